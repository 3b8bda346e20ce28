// SPDX-License-Identifier: MIT
/*
 * simpler bench work: real, compute-bound task graphs (work.h: a tiled GEMM
 * then an elementwise chain, a Jacobi sweep over tiles, independent tiles)
 * with tasks of about 20 us, 200 us and 2 ms, run sequentially with no
 * library, on simpler with chips as threads, on simpler with chips as
 * processes, and on StarPU 1.3 (build/bench/starpu-work), idle and with K
 * busy processes the benchmark starts itself (K = 1 and K = usable CPUs).
 * Every run is checked against the sequential result.  Reports the median
 * wall time of R runs, the speedup over the sequential run under the same
 * load, and CPU time per task (user + sys of every process and thread of
 * the run: the application, its chip processes, StarPU's workers).
 *
 *   simpler bench work [--json] [--reps R] [--seconds S] [--chips N] [--no-bind]
 *                      [--only SHAPE] [--sizes 20,200,2000] [--loads 0,1,2]
 *
 * On a terminal a progress line on stderr says which cell runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "simpler.h"
#include "tool.h"
#include "work.h"

enum { M_SEQ, M_THREADS, M_PROCS, M_STARPU, NR_MODES };
static const char *const mode_names[] = { "sequential", "threads", "processes", "starpu" };

#define MAX_SIZES 4
#define MAX_LOADS 4

struct cell {
	int shape, load;
	uint32_t target_us;
	int mode;
	uint64_t tasks, parallelism;
	uint32_t T;
	double wall, cpu;	/* seconds: median wall, the CPU of that run */
	double speedup;		/* sequential wall / wall, same load */
	double noise;		/* tool_spread() of its reps */
	bool ran, ok;
	char note[96];
};

struct bw {
	int reps, chips, cpus, json, no_bind;
	double seconds;
	int only;
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	int loads[MAX_LOADS];
	int nloads;
	char starpu[512];	/* the helper's path, "" if there is none */
	uint32_t tile_gemm[MAX_SIZES], tile_stencil[MAX_SIZES];	/* calibrated */
	struct cell *cells;
	int ncells, done;
	struct tool_progress prog;
	pid_t busy[64];
	int nbusy;
};

/* ---- CPU time ---- */

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

/* CPU seconds of another process, all its threads (its CPU-time clock) */
static double proc_cpu(pid_t pid)
{
	struct timespec ts;
	clockid_t cid;

	if (pid <= 0 || clock_getcpuclockid(pid, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* this process and its chip processes */
static double tree_cpu(struct simpler_worker *w)
{
	double s = self_cpu();
	int i, n = w ? simpler_worker_nr_chips(w) : 0;

	for (i = 0; i < n; i++)
		s += proc_cpu(simpler_chip_pid(w, i));
	return s;
}

/* ---- busy processes ---- */

static void busy_start(struct bw *b, int k)
{
	pid_t parent = getpid(), pid;
	volatile uint64_t x = 0;

	while (b->nbusy < k && b->nbusy < 64) {
		pid = fork();
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			for (;;)
				x++;
		}
		if (pid < 0)
			break;
		b->busy[b->nbusy++] = pid;
	}
}

static void busy_stop(struct bw *b)
{
	while (b->nbusy) {
		b->nbusy--;
		kill(b->busy[b->nbusy], SIGKILL);
		waitpid(b->busy[b->nbusy], NULL, 0);
	}
}

/* ---- calibration: tiles that take about the target time ---- */

static double time_kernel(int kernel, uint32_t T)
{
	struct work_graph g;
	float *p[WORK_MAX_ARGS];
	uint64_t t0, n = 0;
	int k;

	work_graph_init(&g, kernel == WK_STENCIL ? WS_STENCIL : WS_INDEP, T, 1);
	g.mem = calloc(g.nr_tiles, g.tile_floats * sizeof(float));
	if (!g.mem)
		return 1;
	work_fill(&g);
	for (k = 0; k < WORK_MAX_ARGS; k++)
		p[k] = work_tile(&g, (size_t)k % g.nr_tiles);
	t0 = tool_now_ns();
	do {
		work_run(kernel, p, T);
		n++;
	} while (tool_now_ns() - t0 < 30000000);
	free(g.mem);
	return (double)(tool_now_ns() - t0) / (double)n;
}

static uint32_t round8(double x)
{
	uint32_t v = (uint32_t)(x / 8 + 0.5) * 8;

	return v < 8 ? 8 : v;
}

/*
 * The tile edge whose kernel takes about target_ns: time scales as T^order
 * (3 for a GEMM tile, 2 for a sweep), but caches bend it, so refine.
 */
static uint32_t tile_for(int kernel, double target_ns, double order)
{
	uint32_t T = 64, prev = 0;
	int i;

	for (i = 0; i < 5 && T != prev; i++) {
		prev = T;
		T = round8(T * pow(target_ns / time_kernel(kernel, T), 1 / order));
	}
	return T;
}

static void calibrate(struct bw *b)
{
	int z;

	for (z = 0; z < b->nsizes; z++) {
		b->tile_gemm[z] = tile_for(WK_INDEP, b->sizes[z] * 1000.0, 3);
		b->tile_stencil[z] = tile_for(WK_STENCIL, b->sizes[z] * 1000.0, 2);
	}
}

/* the graph of a shape whose tasks take about target_us, sized for b->seconds */
static void size_graph(struct bw *b, int shape, uint32_t target_us, struct work_graph *g)
{
	double task = target_us * 1000.0, budget = b->seconds * 1e9;
	uint32_t T, n;
	int z;

	for (z = 0; z < b->nsizes - 1 && b->sizes[z] != target_us; z++)
		;
	if (shape == WS_STENCIL) {
		T = b->tile_stencil[z];
		n = (uint32_t)fmax(2, round(budget / (WORK_STENCIL_G * WORK_STENCIL_G * task)));
	} else {
		T = b->tile_gemm[z];
		if (shape == WS_GEMM)
			n = (uint32_t)fmax(2, round(cbrt(budget / task)));
		else
			n = (uint32_t)fmax(2.0 * b->cpus, round(budget / task));
	}
	work_graph_init(g, shape, T, n);
}

/* ---- sequential ---- */

static int run_seq(struct work_graph *g, double *wall, double *cpu, uint64_t *sum)
{
	struct rusage r0, r1;
	uint64_t t0;

	work_fill(g);
	getrusage(RUSAGE_THREAD, &r0);
	t0 = tool_now_ns();
	work_sequential(g);
	*wall = (double)(tool_now_ns() - t0) / 1e9;
	getrusage(RUSAGE_THREAD, &r1);
	*cpu = tv_s(r1.ru_utime) + tv_s(r1.ru_stime) - tv_s(r0.ru_utime) - tv_s(r0.ru_stime);
	*sum = work_sum(g);
	return 0;
}

/* ---- simpler ---- */

/* scalars: T, kernel */
static int k_work(const struct simpler_kernel_args *a)
{
	float *p[WORK_MAX_ARGS];
	uint32_t i;

	for (i = 0; i < a->nr_tensors && i < WORK_MAX_ARGS; i++)
		p[i] = (float *)(uintptr_t)a->tensors[i].addr;
	work_run((int)a->scalars[1], p, (uint32_t)a->scalars[0]);
	return 0;
}

struct orch_arg {
	struct work_graph *g;
	int callable;
};

static int orch_work(struct simpler_orch *o, void *arg)
{
	static const enum simpler_access acc[] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT };
	struct orch_arg *oa = arg;
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	struct work_task wt;
	uint64_t i;
	int k, ret = 0;

	if (!a)
		return -ENOMEM;
	for (i = 0; i < oa->g->tasks && ret >= 0; i++) {
		work_task(oa->g, i, &wt);
		simpler_args_reset(a);
		for (k = 0; k < wt.nargs; k++) {
			t = simpler_tensor_1d(wt.a[k].p, oa->g->tile_floats, SIMPLER_F32);
			simpler_args_add_tensor(a, &t, acc[wt.a[k].acc]);
		}
		simpler_args_add_scalar(a, oa->g->T);
		simpler_args_add_scalar(a, (uint64_t)wt.kernel);
		ret = simpler_submit(o, oa->callable, a, NULL);
	}
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

/*
 * One mode of one graph across its repetitions.  The modes' repetitions are
 * interleaved (rep 0 of each, then rep 1 of each, ...), each rep starting at
 * the next mode, so that what the machine does meanwhile (another program,
 * the host's scheduler) falls on every mode alike instead of on whichever ran
 * its reps in that stretch.  So the simpler workers and StarPU's process live
 * across the reps, idle while another mode runs.
 */
struct mode_run {
	struct simpler_worker *w;
	struct orch_arg oa;
	pid_t pid;		/* StarPU's helper */
	FILE *to, *from;	/* its stdin and stdout */
	int ret;		/* the first failure: no more reps of this mode */
	double walls[16], cpus[16];
};

static int simpler_open(struct bw *b, struct work_graph *g, bool threads, struct mode_run *m,
			char *note, size_t notelen)
{
	SIMPLER_OPTS(simpler_worker_opts, opts, .nr_chips = b->chips,
		     .flags = (threads ? SIMPLER_WORKER_THREADS : 0) |
			      (b->no_bind ? SIMPLER_WORKER_NO_BIND : 0),
		     .hostmem = SIMPLER_HOSTMEM_SHM);
	int ret = simpler_worker_create(&opts, &m->w);

	if (ret) {
		snprintf(note, notelen, "create: %s", simpler_last_errmsg());
		m->w = NULL;
		return ret;
	}
	m->oa = (struct orch_arg){ .g = g, .callable = simpler_register(m->w, "work", k_work) };
	if (m->oa.callable < 0) {
		snprintf(note, notelen, "register: %s", simpler_worker_errmsg(m->w));
		return m->oa.callable;
	}
	return 0;
}

static int simpler_rep(struct mode_run *m, int rep, uint64_t ref, char *note, size_t notelen)
{
	uint64_t t0;
	double c0;
	int ret;

	work_fill(m->oa.g);
	c0 = tree_cpu(m->w);
	t0 = tool_now_ns();
	ret = simpler_run(m->w, orch_work, &m->oa);
	m->walls[rep] = (double)(tool_now_ns() - t0) / 1e9;
	m->cpus[rep] = tree_cpu(m->w) - c0;
	if (ret) {
		snprintf(note, notelen, "%s", simpler_worker_errmsg(m->w));
		return ret;
	}
	if (work_sum(m->oa.g) != ref) {
		snprintf(note, notelen, "result differs from the sequential run");
		return -EIO;
	}
	return 0;
}

/*
 * StarPU, in a process of its own (build/bench/starpu-work): it builds the
 * same graph in its own memory, then runs it once per line on its stdin and
 * answers "wall_ns cpu_ns sum" on its stdout.
 */
static int starpu_open(struct bw *b, struct work_graph *g, struct mode_run *m, char *note,
		       size_t notelen)
{
	char args[4][16];
	int in[2], out[2], err;

	if (!b->starpu[0]) {
		snprintf(note, notelen, "no build/bench/starpu-work (make bench-starpu)");
		return -ENOENT;
	}
	snprintf(args[0], sizeof(args[0]), "%d", g->shape);
	snprintf(args[1], sizeof(args[1]), "%u", g->T);
	snprintf(args[2], sizeof(args[2]), "%u", g->n);
	snprintf(args[3], sizeof(args[3]), "%d", b->cpus);
	if (pipe2(in, O_CLOEXEC))
		goto fail;
	if (pipe2(out, O_CLOEXEC)) {
		err = errno;
		close(in[0]);
		close(in[1]);
		errno = err;
		goto fail;
	}
	fflush(NULL);
	m->pid = fork();
	if (m->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		setenv("STARPU_SILENT", "1", 1);
		execl(b->starpu, b->starpu, args[0], args[1], args[2], args[3], (char *)NULL);
		_exit(127);
	}
	err = errno;
	close(in[0]);
	close(out[1]);
	if (m->pid > 0) {
		m->to = fdopen(in[1], "w");
		m->from = fdopen(out[0], "r");
		if (m->to && m->from)
			return 0;
		if (!m->to)
			close(in[1]);
		if (!m->from)
			close(out[0]);
		snprintf(note, notelen, "out of memory");
		return -ENOMEM;
	}
	close(in[1]);
	close(out[0]);
	errno = err;
fail:
	snprintf(note, notelen, "cannot start %s: %s", b->starpu, strerror(errno));
	return -errno;
}

static int starpu_rep(struct mode_run *m, int rep, uint64_t ref, char *note, size_t notelen)
{
	unsigned long long wall, cpu, sum;
	char line[128];

	if (fputs("run\n", m->to) < 0 || fflush(m->to) || !fgets(line, sizeof(line), m->from) ||
	    sscanf(line, "%llu %llu %llx", &wall, &cpu, &sum) != 3) {
		snprintf(note, notelen, "starpu-work failed");
		return -EIO;
	}
	m->walls[rep] = (double)wall / 1e9;
	m->cpus[rep] = (double)cpu / 1e9;
	if (sum != ref) {
		snprintf(note, notelen, "result differs from the sequential run");
		return -EIO;
	}
	return 0;
}

static void mode_close(struct mode_run *m)
{
	if (m->w)
		simpler_worker_destroy(m->w);
	if (m->to)
		fclose(m->to);	/* end of its stdin: it shuts StarPU down and exits */
	else if (m->pid > 0)
		kill(m->pid, SIGKILL);
	if (m->from)
		fclose(m->from);
	if (m->pid > 0)
		waitpid(m->pid, NULL, 0);
}

/* ---- the table ---- */

static void median_of(double *walls, double *cpus, int n, double *wall, double *cpu)
{
	int i, best = 0;
	double sorted[16], m;

	memcpy(sorted, walls, (size_t)n * sizeof(double));
	m = tool_median(sorted, n);
	for (i = 1; i < n; i++)
		if (fabs(walls[i] - m) < fabs(walls[best] - m))
			best = i;
	*wall = walls[best];
	*cpu = cpus[best];
}

static void run_graph(struct bw *b, int shape, uint32_t target_us, int load)
{
	struct mode_run m[NR_MODES] = { 0 };
	struct work_graph g;
	struct cell *c = &b->cells[b->done];
	uint64_t ref = 0;
	int mode, rep, j;

	size_graph(b, shape, target_us, &g);
	g.mem = mmap(NULL, work_bytes(&g), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	for (mode = 0; mode < NR_MODES; mode++)
		c[mode] = (struct cell){ .shape = shape, .load = load, .target_us = target_us,
					 .mode = mode, .tasks = g.tasks,
					 .parallelism = g.parallelism, .T = g.T, .ran = true };
	if (g.mem == MAP_FAILED) {
		for (mode = 0; mode < NR_MODES; mode++) {
			snprintf(c[mode].note, sizeof(c[mode].note), "out of memory");
			m[mode].ret = -ENOMEM;
		}
	}
	/* processes first: they fork from this process before the threads worker has threads */
	if (!m[M_PROCS].ret)
		m[M_PROCS].ret = simpler_open(b, &g, false, &m[M_PROCS], c[M_PROCS].note,
					      sizeof(c[M_PROCS].note));
	if (!m[M_THREADS].ret)
		m[M_THREADS].ret = simpler_open(b, &g, true, &m[M_THREADS], c[M_THREADS].note,
						sizeof(c[M_THREADS].note));
	if (!m[M_STARPU].ret)
		m[M_STARPU].ret = starpu_open(b, &g, &m[M_STARPU], c[M_STARPU].note,
					      sizeof(c[M_STARPU].note));
	/* rep r starts at mode r: rep 0 at the sequential run, which gives the reference */
	for (rep = 0; rep < b->reps; rep++) {
		for (j = 0; j < NR_MODES; j++) {
			mode = (rep + j) % NR_MODES;
			if (m[mode].ret)
				continue;
			tool_progress(&b->prog, "%s %u us, %d busy: rep %d of %d, %s",
				      work_shape_names[shape], target_us, load, rep + 1, b->reps,
				      mode_names[mode]);
			switch (mode) {
			case M_SEQ:
				run_seq(&g, &m[mode].walls[rep], &m[mode].cpus[rep], &ref);
				break;
			case M_STARPU:
				m[mode].ret = starpu_rep(&m[mode], rep, ref, c[mode].note,
							 sizeof(c[mode].note));
				break;
			default:
				m[mode].ret = simpler_rep(&m[mode], rep, ref, c[mode].note,
							  sizeof(c[mode].note));
				break;
			}
		}
	}
	for (mode = 0; mode < NR_MODES; mode++) {
		mode_close(&m[mode]);
		c[mode].ok = m[mode].ret == 0;
		if (c[mode].ok) {
			median_of(m[mode].walls, m[mode].cpus, b->reps, &c[mode].wall, &c[mode].cpu);
			c[mode].noise = tool_spread(m[mode].walls, b->reps, c[mode].wall);
			c[mode].speedup = c[M_SEQ].wall / c[mode].wall;
		}
	}
	b->done += NR_MODES;
	if (g.mem != MAP_FAILED)
		munmap(g.mem, work_bytes(&g));
}

static struct cell *find(struct bw *b, int shape, uint32_t us, int load, int mode)
{
	int i;

	for (i = 0; i < b->done; i++)
		if (b->cells[i].shape == shape && b->cells[i].target_us == us &&
		    b->cells[i].load == load && b->cells[i].mode == mode && b->cells[i].ok)
			return &b->cells[i];
	return NULL;
}

static void print_table(struct bw *b)
{
	struct cell *c, *seq;
	int i;

	printf("simpler bench work: %d usable CPUs, %d chips, median of %d runs, the modes' runs "
	       "interleaved; noise = the runs' spread (1.4826 x median absolute deviation, "
	       "relative); speedup over the sequential run under the same load; CPU = user + sys "
	       "of every process and thread of the run\n\n", b->cpus, b->chips, b->reps);
	printf("%-8s %8s %7s %6s %5s %-11s %9s %6s %8s %12s %10s  %s\n", "shape", "task us",
	       "tasks", "tile", "busy", "mode", "wall s", "noise", "speedup", "CPU us/task",
	       "CPU/seq", "");
	for (i = 0; i < b->done; i++) {
		c = &b->cells[i];
		seq = find(b, c->shape, c->target_us, c->load, M_SEQ);
		if (!c->ok) {
			printf("%-8s %8u %7" PRIu64 " %6u %5d %-11s %9s %6s %8s %12s %10s  %s\n",
			       work_shape_names[c->shape], c->target_us, c->tasks, c->T, c->load,
			       mode_names[c->mode], "-", "-", "-", "-", "-", c->note);
			continue;
		}
		printf("%-8s %8.0f %7" PRIu64 " %6u %5d %-11s %9.3f %5.1f%% %7.2fx %12.1f %9.2fx\n",
		       work_shape_names[c->shape],
		       seq ? seq->wall / (double)c->tasks * 1e6 : 0.0, c->tasks, c->T, c->load,
		       mode_names[c->mode], c->wall, 100 * c->noise, c->speedup,
		       c->cpu / (double)c->tasks * 1e6,
		       seq && seq->cpu > 0 ? c->cpu / seq->cpu : 0.0);
	}
}

/*
 * The targets, as ratios of this run.  A target on wall times that
 * fails by less than the noise of the sequential runs of the same graph under
 * the same load (the machine's own scatter on that graph, with no runtime in
 * it) is reported apart, as within noise, not as met: two runtimes that both
 * run at the machine's speed order at random from run to run.  CPU-time
 * targets have no such band.
 */
struct verdicts {
	int checks, met, near, missed;
};

static void verdict(struct verdicts *v, int shape, uint32_t us, int load, double ratio,
		    double limit, double noise, const char *what)
{
	v->checks++;
	if (ratio <= limit) {
		v->met++;
		return;
	}
	if (ratio <= limit * (1 + noise))
		v->near++;
	else
		v->missed++;
	printf("  %s: %s %u us, %d busy: %s (%.3f > %.3f", ratio <= limit * (1 + noise) ?
	       "within noise" : "miss", work_shape_names[shape], us, load, what, ratio, limit);
	if (noise > 0)
		printf(", noise %.1f%%", 100 * noise);
	printf(")\n");
}

static void print_targets(struct bw *b)
{
	struct cell *seq, *thr, *prc, *stp;
	struct verdicts v = { 0 };
	int s, z, l;
	double want, e;

	printf("\ntargets (ratios of this run):\n");
	for (s = 0; s < NR_WORK_SHAPES; s++)
		for (z = 0; z < b->nsizes; z++)
			for (l = 0; l < b->nloads; l++) {
				uint32_t us = b->sizes[z];
				int load = b->loads[l];

				seq = find(b, s, us, load, M_SEQ);
				thr = find(b, s, us, load, M_THREADS);
				prc = find(b, s, us, load, M_PROCS);
				stp = find(b, s, us, load, M_STARPU);
				if (!seq || !thr || !prc)
					continue;
				e = seq->noise;
				if (load == 0 && us >= 200) {
					want = 0.85 * fmin(b->cpus, (double)seq->parallelism);
					verdict(&v, s, us, load, want / thr->speedup, 1, e,
						"threads' speedup short of 0.85 x min(CPUs, parallelism)");
					verdict(&v, s, us, load, want / prc->speedup, 1, e,
						"processes' speedup short of 0.85 x min(CPUs, parallelism)");
				}
				if (load == 1) {
					verdict(&v, s, us, load, prc->wall / thr->wall, 1.15, e,
						"processes / threads wall");
					verdict(&v, s, us, load, prc->wall / seq->wall, 1, e,
						"processes / sequential wall");
				}
				if (load >= b->cpus) {
					verdict(&v, s, us, load, thr->wall / seq->wall, 1.3, e,
						"threads / sequential wall");
					verdict(&v, s, us, load, prc->wall / seq->wall, 1.3, e,
						"processes / sequential wall");
				}
				verdict(&v, s, us, load, prc->cpu / thr->cpu, 1.2, 0,
					"processes / threads CPU");
				if (stp) {
					verdict(&v, s, us, load, thr->wall / stp->wall, 1, e,
						"threads / StarPU wall");
					verdict(&v, s, us, load, prc->wall / stp->wall, 1, e,
						"processes / StarPU wall");
				}
			}
	printf("  %d of %d checks met, %d more within noise, %d missed\n", v.met, v.checks, v.near,
	       v.missed);
}

static void print_json(struct bw *b)
{
	struct cell *c;
	int i;

	printf("{\"bench\":\"work\",\"cpus\":%d,\"chips\":%d,\"reps\":%d,\"results\":[", b->cpus,
	       b->chips, b->reps);
	for (i = 0; i < b->done; i++) {
		c = &b->cells[i];
		printf("%s{\"shape\":\"%s\",\"target_us\":%u,\"tile\":%u,\"tasks\":%" PRIu64
		       ",\"parallelism\":%" PRIu64 ",\"busy\":%d,\"mode\":\"%s\",\"ok\":%s",
		       i ? "," : "", work_shape_names[c->shape], c->target_us, c->T, c->tasks,
		       c->parallelism, c->load, mode_names[c->mode], c->ok ? "true" : "false");
		if (c->ok)
			printf(",\"wall_s\":%.6f,\"noise\":%.4f,\"speedup\":%.4f,\"cpu_s\":%.6f,"
			       "\"cpu_us_per_task\":%.3f", c->wall, c->noise, c->speedup, c->cpu,
			       c->cpu / (double)c->tasks * 1e6);
		else
			printf(",\"error\":\"%s\"", c->note);
		printf("}");
	}
	printf("]}\n");
}

/* the StarPU helper: beside this program's build directory */
static void find_starpu(struct bw *b)
{
	char self[400];
	ssize_t n;
	char *slash;

	if (getenv("SIMPLER_STARPU_WORK")) {
		snprintf(b->starpu, sizeof(b->starpu), "%s", getenv("SIMPLER_STARPU_WORK"));
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = 0;
	snprintf(b->starpu, sizeof(b->starpu), "%s/bench/starpu-work", self);
	if (access(b->starpu, X_OK))
		b->starpu[0] = 0;
}

/* a comma-separated list of 1 to max whole numbers in [lo, hi]: how many, or -1 */
static int parse_list(const char *s, uint32_t *v, int max, uint32_t lo, uint32_t hi)
{
	unsigned long x;
	int n = 0;
	char *end;

	while (n < max) {
		if (*s < '0' || *s > '9')
			return -1;
		errno = 0;
		x = strtoul(s, &end, 10);
		if (errno || x < lo || x > hi)
			return -1;
		v[n++] = (uint32_t)x;
		if (!*end)
			return n;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
	return -1;
}

static const char *opt_sizes(const char *value, void *dst)
{
	struct bw *b = dst;
	int n = parse_list(value, b->sizes, MAX_SIZES, 1, 1000000);

	if (n < 1)
		return "a list of 1 to 4 task sizes in us, 1..1000000";
	b->nsizes = n;
	return NULL;
}

static const char *opt_loads(const char *value, void *dst)
{
	struct bw *b = dst;
	uint32_t loads[MAX_LOADS];
	int l, n = parse_list(value, loads, MAX_LOADS, 0, 64);

	if (n < 1)
		return "a list of 1 to 4 numbers of busy processes, 0..64";
	for (l = 0; l < n; l++)
		b->loads[l] = (int)loads[l];
	b->nloads = n;
	return NULL;
}

int bench_work(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bw b = { .reps = 5, .seconds = 0.4, .only = -1 };
	int rc, s, z, l, out;
	const struct cli_opt opts[] = {
		CLI_REPS(&b.reps),
		{ "seconds", 0, "S", "size each graph to about S seconds of sequential work",
		  CLI_DOUBLE, &b.seconds, 0.001, 0, NULL, NULL },
		{ "chips", 0, "N", "chips, 1..1024", CLI_INT, &b.chips, 1, 1024, NULL, NULL },
		{ "no-bind", 0, NULL, "do not bind chips to CPUs (SIMPLER_WORKER_NO_BIND)", CLI_FLAG,
		  &b.no_bind, 0, 0, NULL, NULL },
		{ "only", 0, "SHAPE", "run one shape: gemm, stencil or indep", CLI_CHOICE, &b.only, 0,
		  0, work_shape_names, NULL },
		{ "sizes", 0, "US,...", "task sizes in us, up to 4 (default 20,200,2000)", CLI_FN, &b,
		  0, 0, NULL, opt_sizes },
		{ "loads", 0, "K,...", "busy processes, up to 4 (default 0,1,usable CPUs)", CLI_FN, &b,
		  0, 0, NULL, opt_loads },
		{ "json", 0, NULL, "print one JSON object on stdout; the tables go to stderr",
		  CLI_FLAG, &b.json, 0, 0, NULL, NULL },
		CLI_END,
	};

	b.cpus = tool_cpus();
	b.chips = b.cpus;
	b.sizes[0] = 20;
	b.sizes[1] = 200;
	b.sizes[2] = 2000;
	b.nsizes = 3;
	b.loads[0] = 0;
	b.loads[1] = 1;
	b.loads[2] = b.cpus;
	b.nloads = b.cpus > 1 ? 3 : 2;
	rc = cli_parse(cmd, opts, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	find_starpu(&b);
	b.ncells = NR_WORK_SHAPES * b.nsizes * b.nloads * NR_MODES;
	b.cells = calloc((size_t)b.ncells, sizeof(*b.cells));
	if (!b.cells)
		return 1;
	tool_progress_start(&b.prog, 1 + (b.only >= 0 ? 1 : NR_WORK_SHAPES) * b.nsizes * b.nloads *
					     NR_MODES * b.reps);
	tool_progress(&b.prog, "calibrating tiles on an idle machine");
	calibrate(&b);
	for (l = 0; l < b.nloads; l++) {
		busy_start(&b, b.loads[l]);
		for (s = 0; s < NR_WORK_SHAPES; s++) {
			if (b.only >= 0 && s != b.only) {
				b.ncells -= b.nsizes * NR_MODES;
				continue;
			}
			for (z = 0; z < b.nsizes; z++)
				run_graph(&b, s, b.sizes[z], b.loads[l]);
		}
		busy_stop(&b);
	}
	tool_progress_end(&b.prog);
	/* --json: stdout is the JSON alone, for a program to read; the tables go to stderr */
	out = -1;
	if (b.json) {
		fflush(stdout);
		out = dup(STDOUT_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
	}
	print_table(&b);
	print_targets(&b);
	if (out >= 0) {
		fflush(stdout);
		dup2(out, STDOUT_FILENO);
		close(out);
		print_json(&b);
	}
	free(b.cells);
	return 0;
}
