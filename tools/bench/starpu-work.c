// SPDX-License-Identifier: MIT
/*
 * The StarPU side of `simpler bench work`: one graph of tools/simpler/work.h
 * on StarPU 1.3, its own scheduler, one CPU worker per usable CPU, every
 * tile a data handle and every task inserted with the same access modes, so
 * StarPU infers the same dependencies.  Runs the graph once for each line
 * read on stdin (the caller interleaves it with its other modes) and answers
 * each with "wall_ns cpu_ns sum_hex", the sum of the result for the caller
 * to compare with its sequential run; ends at the end of stdin.  Built by
 * make when libstarpu-dev is installed.
 *
 *   starpu-work SHAPE T N CPUS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <starpu.h>

#include "tool.h"
#include "work.h"

static uint32_t tile_T;

static void cpu_kernel(void *buffers[], void *cl_arg)
{
	float *p[WORK_MAX_ARGS];
	int k, kernel = (int)(intptr_t)cl_arg, n = kernel == WK_STENCIL ? 6 :
						       kernel == WK_EW ? 2 : 3;

	for (k = 0; k < n; k++)
		p[k] = (float *)STARPU_VECTOR_GET_PTR(buffers[k]);
	work_run(kernel, p, tile_T);
}

static struct starpu_codelet codelets[NR_WORK_KERNELS];

static const enum starpu_data_access_mode modes[] = { STARPU_R, STARPU_W, STARPU_RW };

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

static int run_once(struct work_graph *g, starpu_data_handle_t *h, uint64_t *wall,
		    uint64_t *cpu)
{
	struct starpu_task *task;
	struct work_task t;
	uint64_t i, t0, c0;
	size_t k;
	int a, ret;

	work_fill(g);
	for (k = 0; k < g->nr_tiles; k++)
		starpu_vector_data_register(&h[k], STARPU_MAIN_RAM, (uintptr_t)work_tile(g, k),
					    (uint32_t)g->tile_floats, sizeof(float));
	c0 = cpu_ns();
	t0 = tool_now_ns();
	starpu_resume();
	for (i = 0; i < g->tasks; i++) {
		work_task(g, i, &t);
		task = starpu_task_create();
		task->cl = &codelets[t.kernel];
		task->cl_arg = (void *)(intptr_t)t.kernel;
		task->nbuffers = t.nargs;
		for (a = 0; a < t.nargs; a++) {
			task->handles[a] = h[(size_t)(t.a[a].p - g->mem) / g->tile_floats];
			task->modes[a] = modes[t.a[a].acc];
		}
		ret = starpu_task_submit(task);
		if (ret)
			return ret;
	}
	starpu_task_wait_for_all();
	*wall = tool_now_ns() - t0;
	*cpu = cpu_ns() - c0;
	/* idle workers poll in a tight loop: paused, they leave the CPUs to the other modes */
	starpu_pause();
	for (k = 0; k < g->nr_tiles; k++)
		starpu_data_unregister(h[k]);
	return 0;
}

int main(int argc, char **argv)
{
	struct starpu_conf conf;
	struct work_graph g;
	starpu_data_handle_t *h;
	uint64_t wall, cpu;
	char line[64];
	int k;

	if (argc != 5) {
		fprintf(stderr, "usage: starpu-work SHAPE T N CPUS (then one run per line on stdin)\n");
		return 2;
	}
	work_graph_init(&g, atoi(argv[1]), (uint32_t)atoi(argv[2]), (uint32_t)atoi(argv[3]));
	tile_T = g.T;
	/* the same kind of memory as simpler's runs (shared, so no transparent huge pages) */
	g.mem = mmap(NULL, work_bytes(&g), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	h = calloc(g.nr_tiles, sizeof(*h));
	if (g.mem == MAP_FAILED || !h)
		return 1;
	for (k = 0; k < NR_WORK_KERNELS; k++) {
		starpu_codelet_init(&codelets[k]);
		codelets[k].cpu_funcs[0] = cpu_kernel;
		codelets[k].nbuffers = STARPU_VARIABLE_NBUFFERS;
		codelets[k].name = work_kernel_names[k];
	}
	starpu_conf_init(&conf);
	conf.ncpus = atoi(argv[4]);
	conf.ncuda = 0;
	conf.nopencl = 0;
	if (starpu_init(&conf))
		return 3;
	starpu_pause();
	/* bench work interleaves its modes: a run whenever it asks, until its end of our stdin */
	while (fgets(line, sizeof(line), stdin)) {
		if (run_once(&g, h, &wall, &cpu))
			return 4;
		printf("%llu %llu %llx\n", (unsigned long long)wall, (unsigned long long)cpu,
		       (unsigned long long)work_sum(&g));
		fflush(stdout);
	}
	starpu_resume();
	starpu_shutdown();
	return 0;
}
