// SPDX-License-Identifier: MIT
/*
 * simpler bench cluster: an L4 over MPI on this machine.  Run as is, the
 * command is the driver: it starts mpirun -np 3 with itself once over
 * shared memory (Open MPI's vader) and once forced over TCP on loopback,
 * and beside each the StarPU-MPI peer (tools/bench/starpu-mpi-chain, 2
 * ranks), then prints one table (or one JSON object).  Under mpirun (the
 * launcher's rank in the environment) it is one rank of the measured job:
 * rank 0 is the L4 with one local node, ranks 1 and 2 its remote nodes.
 *
 * In one run, rank 0 measures MPI's own 8-byte round trip to a node rank
 * (simpler_node_ping(), the dispatch floor) and then, in
 * microseconds per task and as a ratio to the round trip: one empty node
 * fn a run; a chain of N on one remote node (ordered by its node memory:
 * nothing staged); N independent over both remote nodes; a chain
 * alternating between them (an 8-byte host tensor staged each hop, as
 * StarPU-MPI moves its variable); the same chain on the local node; and
 * 16 MiB inferred transfers between the remote nodes against MPI's
 * bandwidth between the two node ranks a transfer joins
 * (simpler_node_ping_pair(), taken in turns with the transfers).
 * Targets: a remote chain at most 3x the round trip per task, transfers
 * at least 0.8x MPI's bandwidth.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "cli.h"
#include "simpler.h"
#include "tool.h"

#define XFER	(16u << 20)

struct figures {
	double rtt_us, bw_gbs;		/* the floors */
	double single_us, chain_us, indep_us, alt_us, local_us, xfer_gbs;
	double xfer_noise;		/* of xfer_gbs / bw_gbs, relative */
	double starpu_us;		/* the peer, from its own mpirun */
	int ok;				/* measured */
};

static int id_empty, id_fill;

static int nf_empty(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return 0;
}

/* tensor 0 (OUT): its first byte written, so the write is real */
static int nf_fill(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	*(volatile uint8_t *)(uintptr_t)a->tensors[0].addr = 1;
	return 0;
}

struct plan {
	int shape;		/* what orch_bench submits */
	int n, node, other;
	struct simpler_tensor t, u;
};

enum { SINGLE, CHAIN, INDEP, ALT, XREAD, XWRITE };

static int orch_bench(struct simpler_orch *o, void *arg)
{
	struct plan *p = arg;
	struct simpler_args *a = simpler_args_new();
	struct simpler_submit_opts so = { .sz = sizeof(so) };
	int i, r = 0;

	for (i = 0; i < p->n && r >= 0; i++) {
		simpler_args_reset(a);
		so.worker = p->node;
		switch (p->shape) {
		case CHAIN:
			simpler_args_add_tensor(a, &p->t, SIMPLER_INOUT);
			break;
		case INDEP:
			so.worker = i % 2 ? p->other : p->node;
			break;
		case ALT:
			simpler_args_add_tensor(a, &p->t, SIMPLER_INOUT);
			so.worker = i % 2 ? p->other : p->node;
			break;
		case XREAD:
			simpler_args_add_tensor(a, &p->t, SIMPLER_IN);
			so.worker = p->other;
			break;
		case XWRITE:
			simpler_args_add_tensor(a, &p->t, SIMPLER_OUT);
			r = simpler_submit(o, id_fill, a, &so);
			continue;
		}
		r = simpler_submit(o, id_empty, a, &so);
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

/*
 * Runs to warm up before a measurement: at least 64 tasks, so a one-task
 * run is measured once every frame of the rings it passes through has been
 * used (an L4's 16 frames for a node, the node rank's queue of 32, task
 * slots): their first use costs page faults.  Single runs on a
 * paravirtualised host (11 us a page fault): 200-430 us each after one
 * run to warm up, 23-180 us after 40.
 */
#define WARM_TASKS	64

/*
 * median seconds of reps runs of plan p (after runs to warm up); with
 * rtt, before each run MPI's round trip to node 1 (the mean of as many
 * round trips as p has tasks, at least 100), its median into *rtt in
 * microseconds: floor and runs taken in turns, so that whatever else the
 * host does meanwhile falls on both alike
 */
static double timed_floor(struct simpler_worker *w, struct plan *p, int reps, double *rtt)
{
	uint32_t pings = p->n > 100 ? (uint32_t)p->n : 100;
	double t[16], r[16];
	uint64_t ns;
	int k;

	for (k = 0; k < (WARM_TASKS + p->n - 1) / p->n; k++)
		if (simpler_run(w, orch_bench, p))
			return -1;
	for (k = 0; k < reps; k++) {
		uint64_t t0;

		if (rtt && simpler_node_ping(w, 1, 8, pings, &ns))
			return -1;
		r[k] = rtt ? (double)ns / pings / 1000 : 0;
		t0 = tool_now_ns();
		if (simpler_run(w, orch_bench, p))
			return -1;
		t[k] = (double)(tool_now_ns() - t0) / 1e9;
	}
	if (rtt)
		*rtt = tool_median(r, reps);
	return tool_median(t, reps);
}

static double timed(struct simpler_worker *w, struct plan *p, int reps)
{
	return timed_floor(w, p, reps, NULL);
}

static struct simpler_tensor node_tensor(uint64_t addr, uint32_t bytes)
{
	struct simpler_tensor t = simpler_tensor_1d(NULL, bytes, SIMPLER_U8);

	t.addr = addr;
	t.child_memory = 1;
	return t;
}

/* one rank of the measured job; rank 0 prints its figures as JSON */
static int inner(int n, int reps)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1);
	const struct simpler_worker_opts *local[1] = { &l3 };
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .nr_nodes = 1, .node_opts = local,
		     .flags = SIMPLER_WORKER_MPI, .remote_opts = &l3, .node_timeout_ms = 10000);
	/* host memory the local node sees: shared, mapped before create */
	uint64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				-1, 0);
	struct simpler_worker *w = NULL;
	struct figures f = { 0 };
	struct plan p = { 0 };
	uint64_t ns, x, chainmem;
	double sx, sf;
	/*
	 * 16 MiB moves scatter more than dispatch does: over TCP on loopback
	 * single ones took 2.2 to 6.9 ms in one job, MPI's own as much as
	 * ours (p10 3.4 ms, p90 5.5 ms in 100 of each).  So many of them,
	 * floor and transfers alike, each sample one 16 MiB move (a ping's
	 * round trip halved, a transfer's run): the medians compare the
	 * transports, not luck.
	 */
	int big = 8 * reps + 1;
	double t[8 * 16 + 1], tf[8 * 16 + 1];	/* reps <= 16 (CLI_REPS) */
	int r, k;

	r = simpler_worker_create(&o, &w);
	if (r == 1)
		return 0;
	if (r < 0 || shared == MAP_FAILED) {
		fprintf(stderr, "simpler: %s\n", simpler_last_errmsg());
		return 1;
	}
	id_empty = simpler_register_node_fn(w, "empty", nf_empty);
	id_fill = simpler_register_node_fn(w, "fill", nf_fill);
	/*
	 * the floors: MPI alone, rank 0 and node 1's rank, after a second of
	 * pings: the ranks' crowd detector (nap mode by itself) has looked at
	 * the host by then, so the floor and the dispatch after it are
	 * measured the same way (beside two busy processes every rank turned
	 * nap mode on within 0.11 s of MPI's start)
	 */
	for (x = tool_now_ns(); tool_now_ns() - x < 1000000000;)
		if (simpler_node_ping(w, 1, 8, 100, &ns))
			goto fail;
	/*
	 * dispatch: remote nodes are 1 and 2, the local one 0.  The floor is
	 * taken in turns with the chain's runs (each the mean of n round
	 * trips, as a chain run is the mean of n tasks): one floor of 2000
	 * round trips before the runs measured 0.9 to 180 us in four jobs
	 * beside two busy processes (which ranks had a CPU then), 74x to
	 * 0.5x the chain measured after it
	 */
	p = (struct plan){ .shape = SINGLE, .n = 1, .node = 1 };
	f.single_us = timed(w, &p, reps) * 1e6;
	if (simpler_malloc(w, 1, 64, &chainmem))
		goto fail;
	p = (struct plan){ .shape = CHAIN, .n = n, .node = 1, .t = node_tensor(chainmem, 8) };
	f.chain_us = timed_floor(w, &p, reps, &f.rtt_us) * 1e6 / n;
	p = (struct plan){ .shape = INDEP, .n = n, .node = 1, .other = 2 };
	f.indep_us = timed(w, &p, reps) * 1e6 / n;
	p = (struct plan){ .shape = ALT, .n = n, .node = 1, .other = 2,
			   .t = simpler_tensor_1d(shared, 1, SIMPLER_U64) };
	f.alt_us = timed(w, &p, reps) * 1e6 / n;
	p = (struct plan){ .shape = CHAIN, .n = n, .node = 0,
			   .t = simpler_tensor_1d(shared, 1, SIMPLER_U64) };
	f.local_us = timed(w, &p, reps) * 1e6 / n;
	/*
	 * 16 MiB of node 1's memory read on node 2 (written each time, so
	 * moved each time: one run from the read's start to its end), and
	 * the floor: MPI alone between the two ranks such a transfer joins
	 * (simpler_node_ping_pair(), half a 16 MiB round trip), taken in
	 * turns so that whatever else this host does in the meantime falls
	 * on both alike.  The first of each touches the pages (the ping
	 * buffers are kept, as the arena is).
	 */
	if (simpler_malloc(w, 1, XFER, &x))
		goto fail;
	p = (struct plan){ .n = 1, .node = 1, .other = 2, .t = node_tensor(x, XFER) };
	for (k = 0; k <= big; k++) {
		uint64_t t0;

		if (simpler_node_ping_pair(w, 1, 2, XFER, 1, &ns))
			goto fail;
		p.shape = XWRITE;
		if (simpler_run(w, orch_bench, &p))
			goto fail;
		p.shape = XREAD;
		t0 = tool_now_ns();
		if (simpler_run(w, orch_bench, &p))
			goto fail;
		if (k) {
			t[k - 1] = (double)(tool_now_ns() - t0);
			tf[k - 1] = ns / 2.0;
		}
	}
	f.xfer_gbs = XFER / tool_median(t, big);
	f.bw_gbs = XFER / tool_median(tf, big);
	/*
	 * The noise of their ratio: a median of n samples scatters by about
	 * 1.2533 / sqrt(n) of one sample's spread; two medians, both
	 */
	sx = tool_spread(t, big, XFER / f.xfer_gbs);
	sf = tool_spread(tf, big, XFER / f.bw_gbs);
	f.xfer_noise = 1.2533 * sqrt((sx * sx + sf * sf) / big);
	if (f.single_us < 0 || f.chain_us < 0 || f.indep_us < 0 || f.alt_us < 0 || f.local_us < 0)
		goto fail;
	printf("{\"rtt_us\":%.3f,\"bw_gbs\":%.3f,\"single_us\":%.2f,\"chain_us\":%.2f,"
	       "\"indep_us\":%.2f,\"alt_us\":%.2f,\"local_us\":%.2f,\"xfer_gbs\":%.3f,"
	       "\"xfer_noise\":%.4f}\n", f.rtt_us, f.bw_gbs, f.single_us, f.chain_us, f.indep_us,
	       f.alt_us, f.local_us, f.xfer_gbs, f.xfer_noise);
	simpler_worker_destroy(w);
	return 0;
fail:
	fprintf(stderr, "simpler: %s\n", simpler_worker_errmsg(w));
	simpler_worker_destroy(w);
	return 1;
}

/* "key":number in a JSON line, or -1 */
static double jnum(const char *s, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = s ? strstr(s, k) : NULL;
	return p ? strtod(p + strlen(k), NULL) : -1;
}

/* run argv under mpirun, its stdout's last JSON line into line */
static int launch(char *const *argv, char *line, size_t len)
{
	char buf[4096];
	int fd[2], st;
	FILE *f;
	pid_t pid;

	line[0] = 0;
	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	while (f && fgets(buf, sizeof(buf), f))
		if (buf[0] == '{')
			snprintf(line, len, "%s", buf);
	if (f)
		fclose(f);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && !WEXITSTATUS(st) && line[0] ? 0 : -1;
}

static void measure(const char *self, const char *starpu, bool tcp, int n, int reps,
		    struct figures *f)
{
	char nb[16], rb[16], line[4096];
	const char *btl[] = { "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo" };
	char *argv[32];
	int k = 0, i;

	snprintf(nb, sizeof(nb), "%d", n);
	snprintf(rb, sizeof(rb), "%d", reps);
	argv[k++] = "mpirun";
	argv[k++] = "--oversubscribe";
	argv[k++] = "--bind-to";
	argv[k++] = "none";
	for (i = 0; tcp && i < 6; i++)
		argv[k++] = (char *)btl[i];
	argv[k++] = "-np";
	argv[k++] = "3";
	argv[k++] = (char *)self;
	argv[k++] = "bench";
	argv[k++] = "cluster";
	argv[k++] = "-n";
	argv[k++] = nb;
	argv[k++] = "--reps";
	argv[k++] = rb;
	argv[k] = NULL;
	if (launch(argv, line, sizeof(line)) == 0) {
		f->ok = 1;
		f->rtt_us = jnum(line, "rtt_us");
		f->bw_gbs = jnum(line, "bw_gbs");
		f->single_us = jnum(line, "single_us");
		f->chain_us = jnum(line, "chain_us");
		f->indep_us = jnum(line, "indep_us");
		f->alt_us = jnum(line, "alt_us");
		f->local_us = jnum(line, "local_us");
		f->xfer_gbs = jnum(line, "xfer_gbs");
		f->xfer_noise = jnum(line, "xfer_noise");
	}
	f->starpu_us = -1;
	if (!starpu)
		return;
	/* StarPU-MPI: two ranks, each with one worker, pinned, its own threads unbound */
	k = 0;
	argv[k++] = "mpirun";
	argv[k++] = "-np";
	argv[k++] = "2";
	argv[k++] = "--bind-to";
	argv[k++] = "core";
	for (i = 0; tcp && i < 6; i++)
		argv[k++] = (char *)btl[i];
	argv[k++] = "-x";
	argv[k++] = "STARPU_NCPU=1";
	argv[k++] = "-x";
	argv[k++] = "STARPU_WORKERS_NOBIND=1";
	argv[k++] = "-x";
	argv[k++] = "STARPU_MPI_NOBIND=1";
	argv[k++] = "-x";
	argv[k++] = "STARPU_SILENT=1";
	argv[k++] = (char *)starpu;
	argv[k++] = nb;
	argv[k++] = rb;
	argv[k] = NULL;
	if (launch(argv, line, sizeof(line)) == 0 && jnum(line, "value_ok") == 1)
		f->starpu_us = jnum(line, "starpu_mpi_chain_us");
}

static void row(const char *what, const struct figures *f, double (*get)(const struct figures *),
		const char *unit, bool ratio)
{
	int k;

	printf("%-34s", what);
	for (k = 0; k < 2; k++) {
		double v = get(&f[k]);

		if (!f[k].ok || v < 0)
			printf(" %22s", "-");
		else if (ratio)
			printf(" %9.1f %-4s (%4.1fx)", v, unit, v / f[k].rtt_us);
		else
			printf(" %12.3f %-9s", v, unit);
	}
	printf("\n");
}

/*
 * The transfer target (0.8x MPI's bandwidth): met; or missed by less than
 * twice the noise of the ratio, where a run cannot tell the two apart (said
 * apart, never counted as met); or missed
 */
static const char *xfer_verdict(const struct figures *f)
{
	double ratio = f->xfer_gbs / f->bw_gbs;

	if (!f->ok)
		return "not measured";
	if (ratio >= 0.8)
		return "met";
	return ratio * (1 + 2 * f->xfer_noise) >= 0.8 ? "within noise" : "missed";
}

#define GET(field) static double get_##field(const struct figures *f) { return f->field; }
GET(rtt_us) GET(bw_gbs) GET(single_us) GET(chain_us) GET(indep_us) GET(alt_us) GET(local_us)
GET(starpu_us) GET(xfer_gbs)

int bench_cluster(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_opts b = { .reps = 3, .n = 1000 };
	struct figures f[2];
	char self[4096], starpu[4200], *slash;
	const char *names[2] = { "vader", "tcp" };
	int rank = -1, k;
	ssize_t len;
	const struct cli_opt opts[] = {
		CLI_REPS(&b.reps), CLI_JSON(&b.json),
		{ NULL, 'n', "N", "tasks per chain or batch", CLI_U64, &b.n, 4, 100000, NULL, NULL },
		CLI_END,
	};
	int rc = cli_parse(cmd, opts, argc, argv);

	if (rc != CLI_RUN)
		return rc;
	if (getenv("OMPI_COMM_WORLD_RANK"))
		rank = atoi(getenv("OMPI_COMM_WORLD_RANK"));
	if (rank >= 0)
		return inner((int)b.n, b.reps);
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0) {
		fprintf(stderr, "simpler: cannot find this program's path\n");
		return 1;
	}
	self[len] = 0;
	snprintf(starpu, sizeof(starpu), "%s", self);
	slash = strrchr(starpu, '/');
	snprintf(slash + 1, sizeof(starpu) - (size_t)(slash + 1 - starpu), "bench/starpu-mpi-chain");
	/* as root, Open MPI wants to be told twice */
	setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
	setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
	for (k = 0; k < 2; k++) {
		memset(&f[k], 0, sizeof(f[k]));
		if (!b.json)
			fprintf(stderr, "simpler bench cluster: mpirun -np 3 over %s ...\n", names[k]);
		measure(self, access(starpu, X_OK) ? NULL : starpu, k == 1, (int)b.n, b.reps, &f[k]);
	}
	if (!f[0].ok && !f[1].ok) {
		fprintf(stderr, "simpler: mpirun -np 3 %s bench cluster failed: is Open MPI installed "
			"(make deps) and the MPI plugin built?\n", self);
		return 1;
	}
	if (b.json) {
		printf("{\"bench\":\"cluster\",\"tasks\":%llu,\"reps\":%d,\"transports\":[",
		       (unsigned long long)b.n, b.reps);
		for (k = 0; k < 2; k++)
			printf("%s{\"name\":\"%s\",\"ok\":%d,\"rtt_us\":%.3f,\"bw_gbs\":%.3f,"
			       "\"single_us\":%.2f,\"chain_us\":%.2f,\"indep_us\":%.2f,\"alt_us\":%.2f,"
			       "\"local_us\":%.2f,\"xfer_gbs\":%.3f,\"starpu_mpi_chain_us\":%.2f,"
			       "\"chain_x_rtt\":%.2f,\"xfer_x_mpi\":%.3f,\"xfer_noise\":%.4f,"
			       "\"chain_target_met\":%s,\"xfer_target_met\":%s,\"xfer_verdict\":\"%s\"}",
			       k ? "," : "", names[k], f[k].ok,
			       f[k].rtt_us, f[k].bw_gbs, f[k].single_us, f[k].chain_us, f[k].indep_us,
			       f[k].alt_us, f[k].local_us, f[k].xfer_gbs, f[k].starpu_us,
			       f[k].chain_us / f[k].rtt_us, f[k].xfer_gbs / f[k].bw_gbs, f[k].xfer_noise,
			       f[k].ok && f[k].chain_us <= 3 * f[k].rtt_us ? "true" : "false",
			       f[k].ok && f[k].xfer_gbs >= 0.8 * f[k].bw_gbs ? "true" : "false",
			       xfer_verdict(&f[k]));
		printf("]}\n");
		return 0;
	}
	printf("simpler bench cluster: an L4 on rank 0 of mpirun -np 3 (ranks 1, 2: remote nodes of "
	       "1 chip;\nand 1 local node), %llu tasks a chain or batch, median of %d runs (of %d for "
	       "16 MiB);\nStarPU-MPI: mpirun -np 2\n\n", (unsigned long long)b.n, b.reps, 8 * b.reps + 1);
	printf("%-34s %22s %22s\n", "", "vader (shared memory)", "tcp (loopback)");
	row("MPI 8 B round trip (the floor)", f, get_rtt_us, "us", false);
	row("MPI 16 MiB bandwidth, node to node", f, get_bw_gbs, "GB/s", false);
	row("empty node fn, one a run", f, get_single_us, "us", true);
	row("chain on one remote node", f, get_chain_us, "us", true);
	row("independent over 2 remote nodes", f, get_indep_us, "us", true);
	row("chain alternating remote nodes", f, get_alt_us, "us", true);
	row("StarPU-MPI chain alternating ranks", f, get_starpu_us, "us", true);
	row("chain on the local node", f, get_local_us, "us", true);
	row("16 MiB inferred transfer", f, get_xfer_gbs, "GB/s", false);
	printf("\nper task; (Nx): as a multiple of the MPI round trip of the same run.\n");
	for (k = 0; k < 2; k++) {
		if (!f[k].ok)
			continue;
		printf("%s: remote chain %.2fx the round trip (target <= 3x: %s); transfers %.2fx "
		       "MPI's bandwidth, noise %.1f%% (target >= 0.8x: %s)\n", names[k],
		       f[k].chain_us / f[k].rtt_us, f[k].chain_us <= 3 * f[k].rtt_us ? "met" : "missed",
		       f[k].xfer_gbs / f[k].bw_gbs, 100 * f[k].xfer_noise, xfer_verdict(&f[k]));
	}
	return 0;
}
