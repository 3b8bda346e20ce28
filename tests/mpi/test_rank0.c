// SPDX-License-Identifier: MIT
/*
 * Losing the L4: run as mpirun --enable-recovery -np 3 with
 * SIMPLER_MPITEST_RESULT naming a file.  Rank 0 forks a watcher (before
 * simpler_worker_create(), as every fork must be), tells it the node
 * ranks' pids, and the watcher records them and every process under them
 * (their chips and subs).  Then rank 0 SIGKILLs itself.  The watcher
 * measures how long the node ranks and their chips take to be gone: at
 * most the heartbeat timeout plus one second.  It writes its TAP lines to
 * the result file (rank 0's output went with it).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "simpler.h"

#define TIMEOUT_MS 2000
#define MAXP 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* alive: exists and is not a zombie */
static int alive(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int live = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		live = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return live;
}

static int ppid_of(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int pp = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 4, "%d", &pp);
	fclose(f);
	return pp;
}

/* the given pids and everything under them, now */
static int tree(int *pids, int n)
{
	DIR *d;
	struct dirent *e;
	int grew = 1, pid, pp, k;

	while (grew) {
		grew = 0;
		d = opendir("/proc");
		while (d && (e = readdir(d))) {
			pid = atoi(e->d_name);
			if (pid <= 0)
				continue;
			pp = ppid_of(pid);
			for (k = 0; k < n && pids[k] != pid; k++)
				;
			if (k < n)
				continue;
			for (k = 0; k < n; k++)
				if (pids[k] == pp && n < MAXP) {
					pids[n++] = pid;
					grew = 1;
					break;
				}
		}
		if (d)
			closedir(d);
	}
	return n;
}

static void watcher(int rd, int ack, const char *result)
{
	int pids[MAXP], n = 0, k, left;
	FILE *in = fdopen(rd, "r"), *out;
	struct pollfd p = { .fd = rd, .events = POLLIN };
	double t0, t;
	char c;

	while (in && n < 2 && fscanf(in, "%d", &pids[n]) == 1)
		n++;
	n = tree(pids, n);
	if (write(ack, "k", 1) != 1)
		_exit(1);
	/* rank 0 holds the write end: it hangs up when rank 0 is gone */
	poll(&p, 1, 60000);
	while (read(rd, &c, 1) > 0)
		;
	t0 = now();
	do {
		left = 0;
		for (k = 0; k < n; k++)
			left += alive(pids[k]);
		t = now() - t0;
		if (left)
			usleep(10000);
	} while (left && t < TIMEOUT_MS / 1000.0 + 10);
	out = fopen(result, "w");
	if (!out)
		_exit(1);
	fprintf(out, "1..1\n# %d node-rank processes (ranks, chips, subs) gone %.2f s after rank 0 "
		"died (timeout %d ms)%s\n", n, t, TIMEOUT_MS, left ? "; some are still running" :
		"");
	if (!left && n >= 4 && t <= TIMEOUT_MS / 1000.0 + 1.0)
		fprintf(out, "ok 1 rank0_death_takes_every_node_rank_and_chip_within_timeout_plus_1s "
			"# %.2f s\n1 passed, 0 failed, 0 skipped\n", t);
	else
		fprintf(out, "not ok 1 rank0_death_takes_every_node_rank_and_chip_within_timeout_plus"
			"_1s # %.2f s, %d of %d left\n0 passed, 1 failed, 0 skipped\n", t, left, n);
	fclose(out);
	_exit(0);
}

static int nf_nothing(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return 0;
}

static int orch(struct simpler_orch *o, void *arg)
{
	struct simpler_submit_opts so = { .sz = sizeof(so), .worker = 0 };
	int r = simpler_submit(o, *(int *)arg, NULL, &so);

	return r < 0 ? r : 0;
}

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1, .nr_subs = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = TIMEOUT_MS, .remote_opts = &l3);
	const char *result = getenv("SIMPLER_MPITEST_RESULT");
	const char *rank = getenv("OMPI_COMM_WORLD_RANK");
	struct simpler_worker *w;
	int to[2], back[2], id, r;
	char c;

	if (rank && !strcmp(rank, "0")) {
		if (!result || pipe(to) || pipe(back))
			return 1;
		if (fork() == 0) {
			close(to[1]);
			close(back[0]);
			/* a watcher of its own: not in rank 0's group, so nothing kills it with it */
			setsid();
			watcher(to[0], back[1], result);
		}
		close(to[0]);
		close(back[1]);
	}
	r = simpler_worker_create(&o, &w);
	if (r)
		return r == 1 ? 0 : 1;
	id = simpler_register_node_fn(w, "nothing", nf_nothing);
	if (simpler_run(w, orch, &id))
		return 1;
	dprintf(to[1], "%d %d\n", simpler_node_pid(w, 0), simpler_node_pid(w, 1));
	if (read(back[0], &c, 1) != 1)
		return 1;
	printf("# rank 0 (pid %d) kills itself\n", getpid());
	fflush(stdout);
	kill(getpid(), SIGKILL);
	return 1;
}
