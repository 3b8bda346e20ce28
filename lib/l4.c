// SPDX-License-Identifier: MIT
/*
 * Levels: simpler_worker_create(), which makes an L3 (chips and subs) or an
 * L4 (nodes and subs), and the node platform behind an L4.  Each node is a
 * "chip" of this platform: opening it creates the node's L3 worker (in the
 * node's own process, forked, watched and restarted by proc.c like any chip
 * process, so its chips are ready before it reports ready), and a launch on
 * it is one simpler_run() of that worker calling a node fn.  Everything an
 * L4 does with a node (mailbox frames, dispatch, the TensorMap's ordering,
 * deaths, restarts, stacked messages) is therefore what an L3 does with a
 * chip; this file holds only what differs.
 *
 * The node protocol is the task frame of mailbox.h (struct mb_task: callable
 * id, tensors with host addresses, access tags, scalars in; error and
 * message out), fixed-layout and pointer-free; a transport to remote nodes
 * carries the same frames.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpilink.h"
#include "remote.h"
#include "worker.h"

/* a node, as the platform sees it: the node's L3 and what it mirrors of the L4 */
struct node {
	struct simpler_worker *w;
	const struct sx_nodes *cfg;
	uint32_t synced;		/* L4 callables registered on w so far */
};

struct node_call {
	simpler_node_fn fn;
	const struct simpler_kernel_args *args;
};

static unsigned node_caps(const struct simpler_platform_cfg *cfg)
{
	return SIMPLER_PLAT_HOST_DIRECT;	/* local nodes share the host's memory */
}

static int node_open(const struct simpler_platform_cfg *cfg, int index, struct simpler_chip **chip,
		     char *err, size_t len)
{
	const struct sx_nodes *nc = cfg->ext;
	struct node *n = calloc(1, sizeof(*n));
	int ret;

	if (!n) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	n->cfg = nc;
	ret = sx_worker_create(&nc->opts[index], NULL, NULL, &n->w);
	if (ret) {
		snprintf(err, len, "%s", simpler_last_errmsg());
		free(n);
		return ret;
	}
	*chip = (struct simpler_chip *)n;
	return 0;
}

static void node_close(struct simpler_chip *chip)
{
	struct node *n = (struct node *)chip;

	simpler_worker_destroy(n->w);
	free(n);
}

static int node_nomem(struct simpler_chip *chip, char *err, size_t len)
{
	snprintf(err, len, "node memory is not reachable from the L4 yet");
	return -EOPNOTSUPP;
}

static int node_mem_alloc(struct simpler_chip *chip, size_t n, uint64_t *addr, char *err,
			  size_t len)
{
	return node_nomem(chip, err, len);
}

static int node_mem_free(struct simpler_chip *chip, uint64_t addr, char *err, size_t len)
{
	return node_nomem(chip, err, len);
}

static int node_copy_to(struct simpler_chip *chip, uint64_t dst, const void *src, size_t n,
			char *err, size_t len)
{
	return node_nomem(chip, err, len);
}

static int node_copy_from(struct simpler_chip *chip, void *dst, uint64_t src, size_t n,
			  char *err, size_t len)
{
	return node_nomem(chip, err, len);
}

static int node_mem_check(struct simpler_chip *chip, uint64_t addr, size_t n, char *err,
			  size_t len)
{
	return node_nomem(chip, err, len);
}

/*
 * The L4's callables registered since the last launch go onto the node's
 * L3 in the same order, so the L4's kernel ids are valid in node fns (node
 * fns themselves only hold their id there: an L3 refuses to run them).
 */
static int node_sync(struct node *n, char *err, size_t len)
{
	uint32_t count = callables_count(n->cfg->ctab);
	const struct shared_callable *sc;
	char why[256];
	const void *fn;
	int ret;

	for (; n->synced < count; n->synced++) {
		sc = &n->cfg->ctab->v[n->synced];
		fn = n->cfg->threads ? (const void *)(uintptr_t)sc->fn :
				       sx_callable_resolve(sc, why, sizeof(why));
		if (!fn) {
			snprintf(err, len, "cannot find %s '%s' here: %s",
				 callable_word(sc), sc->name, why);
			return -ENOEXEC;
		}
		ret = sx_register(n->w, sc->name, fn, sc->kind);
		if (ret < 0 && ret != -EEXIST) {
			snprintf(err, len, "%s", simpler_worker_errmsg(n->w));
			return ret;
		}
	}
	return 0;
}

static int node_orch(struct simpler_orch *o, void *arg)
{
	const struct node_call *c = arg;

	return c->fn(o, c->args);
}

/* one node fn as one complete run of the node's L3 worker */
static int node_launch(struct simpler_chip *chip, simpler_kernel_fn fn,
		       const struct simpler_kernel_args *args, uint32_t *failed_block, char *err,
		       size_t len)
{
	struct node *n = (struct node *)chip;
	struct node_call c = { (simpler_node_fn)(uintptr_t)fn, args };
	int ret = node_sync(n, err, len);

	if (ret)
		return ret;
	*failed_block = 0;
	ret = simpler_run(n->w, node_orch, &c);
	if (ret)
		snprintf(err, len, "%s", simpler_worker_errmsg(n->w));
	return ret;
}

static const struct simpler_platform_ops node_platform = {
	.name = "node",
	.caps = node_caps,
	.chip_open = node_open,
	.chip_close = node_close,
	.mem_alloc = node_mem_alloc,
	.mem_free = node_mem_free,
	.copy_to = node_copy_to,
	.copy_from = node_copy_from,
	.mem_check = node_mem_check,
	.launch = node_launch,
};

/*
 * Node i's options, copied: a node is an L3 (no nodes of its own); fields
 * the caller's struct lacks read as their defaults.
 */
static int node_opts_copy(struct sx_nodes *nc, int i, const struct simpler_worker_opts *src)
{
	struct simpler_worker_opts *d = &nc->opts[i];
	char what[64];
	int ret;

	d->sz = sizeof(*d);
	if (!src)
		return 0;	/* every default: 1 chip */
	snprintf(what, sizeof(what), "simpler_worker_create: node_opts[%d]", i);
	ret = sx_opts_in(src, sizeof(*src), what, "simpler_worker_opts", NULL);
	if (ret)
		return ret;
	memcpy(d, src, src->sz < sizeof(*d) ? src->sz : sizeof(*d));
	d->sz = sizeof(*d);
	if ((d->level && d->level != 3) || d->nr_nodes || d->node_opts)
		return werr(NULL, -EINVAL, "%s: a node is an L3 worker: level 0 or 3, without "
			    "nodes of its own (level %d, nr_nodes %d)", what, d->level, d->nr_nodes);
	if (d->platform) {
		if (strlen(d->platform) >= sizeof(nc->platform[i]))
			return werr(NULL, -EINVAL, "%s: platform name '%s' is too long", what,
				    d->platform);
		snprintf(nc->platform[i], sizeof(nc->platform[i]), "%s", d->platform);
		d->platform = nc->platform[i];
	}
	return 0;
}

/*
 * SIMPLER_WORKER_MPI, before anything forks: where this rank stands in the
 * mpirun job, and MPI not yet initialised (it would be once forks are
 * done).  0 with *rank and *size, or -errno with the thread's message.
 */
static int mpi_prepare(unsigned flags, const struct sx_mpi_ops **ops, int *rank, int *size)
{
	char err[ERRMSG_LEN];
	int ret;

	if (flags & SIMPLER_WORKER_THREADS)
		return werr(NULL, -EINVAL, "simpler_worker_create: SIMPLER_WORKER_MPI: an L4 "
			    "over MPI serves its remote nodes through mailboxes, as processes: drop "
			    "SIMPLER_WORKER_THREADS (a node's own L3 may use it, in remote_opts)");
	if (sx_link_env(rank, size))
		return werr(NULL, -EINVAL, "simpler_worker_create: SIMPLER_WORKER_MPI, but this "
			    "process was not started by mpirun (no OMPI_COMM_WORLD_RANK, PMIX_RANK "
			    "or PMI_RANK): run it as mpirun -np 1+N program (rank 0 is the L4, "
			    "ranks 1..N its nodes)");
	ret = sx_link_plugin(ops, err, sizeof(err));
	if (ret)
		return werr(NULL, ret, "simpler_worker_create: SIMPLER_WORKER_MPI: %s", err);
	if ((*ops)->initialized())
		return werr(NULL, -EINVAL, "simpler_worker_create: MPI is already initialised in "
			    "this process: call simpler_worker_create() before MPI_Init(): it "
			    "forks the chips and subs first, then initialises MPI itself (Open MPI "
			    "does not support fork() after MPI_Init)");
	return 0;
}

SIMPLER_API int simpler_worker_create(const struct simpler_worker_opts *o, struct simpler_worker **out)
{
	const struct simpler_worker_opts *const *no;
	const struct sx_mpi_ops *ops = NULL;
	struct sx_nodes *nc;
	unsigned flags;
	int level, nn, i, ret, rank = 0, size = 1;
	uint32_t timeout;

	if (!out)
		return werr(NULL, -EINVAL, "simpler_worker_create: NULL output pointer");
	*out = NULL;
	ret = sx_opts_in(o, sizeof(*o), "simpler_worker_create", "simpler_worker_opts", NULL);
	if (ret)
		return ret;
	level = OPTS_GET(o, level, 0);
	nn = OPTS_GET(o, nr_nodes, 0);
	no = OPTS_GET(o, node_opts, NULL);
	flags = OPTS_GET(o, flags, 0);
	timeout = OPTS_OR(o, node_timeout_ms, LINK_DEFAULT_TIMEOUT_MS);
	if (level && level != 3 && level != 4)
		return werr(NULL, -EINVAL, "simpler_worker_create: level %d is neither 3 (chips "
			    "and subs) nor 4 (nodes and subs)", level);
	if (level != 4) {
		if (nn || no || (flags & SIMPLER_WORKER_MPI) || OPTS_GET(o, remote_opts, NULL))
			return werr(NULL, -EINVAL, "simpler_worker_create: nr_nodes, node_opts, "
				    "remote_opts and SIMPLER_WORKER_MPI need level = 4");
		return sx_worker_create(o, NULL, NULL, out);
	}
	if (OPTS_GET(o, nr_chips, 0))
		return werr(NULL, -EINVAL, "simpler_worker_create: level 4: nr_chips must be 0: "
			    "an L4's next-level workers are nodes (nr_nodes), each an L3 with "
			    "chips of its own (node_opts)");
	if (OPTS_GET(o, platform, NULL) || OPTS_GET(o, bootstrap, NULL))
		return werr(NULL, -EINVAL, "simpler_worker_create: level 4: platform and "
			    "bootstrap belong to the nodes (node_opts)");
	if (timeout < 30)
		return werr(NULL, -EINVAL, "simpler_worker_create: node_timeout_ms %u: at least 30 "
			    "(a heartbeat goes every timeout / 30 ms)", timeout);
	if (OPTS_GET(o, stage_size, 0) && (OPTS_GET(o, stage_size, 0) < (1 << 20) ||
					   OPTS_GET(o, stage_size, 0) > NODE_MEM_MAX))
		return werr(NULL, -EINVAL, "simpler_worker_create: stage_size must be 1 MiB to "
			    "16 TiB");
	if (OPTS_GET(o, remote_opts, NULL) && !(flags & SIMPLER_WORKER_MPI))
		return werr(NULL, -EINVAL, "simpler_worker_create: remote_opts are the options of "
			    "remote nodes, which need SIMPLER_WORKER_MPI");
	if (flags & SIMPLER_WORKER_MPI) {
		ret = mpi_prepare(flags, &ops, &rank, &size);
		if (ret)
			return ret;
		/* a node rank: serve the L4 until it stops (returns 1), no worker here */
		if (rank > 0)
			return sx_noderank_serve(o, ops, rank, size);
	}
	if (nn < (size > 1 ? 0 : 1) || nn + size - 1 > MAX_EXECS)
		return werr(NULL, -EINVAL, "simpler_worker_create: level 4: nr_nodes %d must be "
			    "in %d..%d (with %d remote nodes)", nn, size > 1 ? 0 : 1,
			    MAX_EXECS - (size - 1), size - 1);
	nc = calloc(1, sizeof(*nc));
	if (!nc)
		return werr(NULL, -ENOMEM, "simpler_worker_create: out of memory");
	nc->n = nn + size - 1;
	nc->nlocal = nn;
	for (i = 0; i < nn; i++) {
		ret = node_opts_copy(nc, i, no ? no[i] : NULL);
		if (ret) {
			free(nc);
			return ret;
		}
	}
	ret = sx_worker_create(o, &node_platform, nc, out);
	if (ret || size == 1)
		return ret;
	/* every fork is done: now MPI */
	ret = sx_remote_start(*out, ops, size, timeout);
	if (ret) {
		werr(NULL, ret, "simpler_worker_create: %s", (*out)->errmsg);
		simpler_worker_destroy(*out);
		*out = NULL;
	}
	return ret;
}

SIMPLER_API void simpler_worker_destroy(struct simpler_worker *w)
{
	struct timespec ms = { 0, 1000000 };

	if (!w)
		return;
	/* another thread's run ends first (teardown may poll; no task waits on it) */
	while (atomic_load_explicit(&w->running, memory_order_acquire))	/* see simpler_run() */
		nanosleep(&ms, NULL);
	sx_remote_stop(w);
	sx_worker_destroy(w);
}

SIMPLER_API int simpler_node_info(const struct simpler_worker *w, int node,
				  struct simpler_node_info *i)
{
	struct simpler_node_info v;
	const struct simpler_worker_opts *no;

	if (!w)
		return werr(NULL, -EINVAL, "node_info: NULL worker");
	if (!w->nodes || node < 0 || node >= w->chips.n)
		return werr((struct simpler_worker *)w, -EINVAL, "node_info: node %d does not exist "
			    "(the worker has %d nodes)", node, w->nodes ? w->chips.n : 0);
	memset(&v, 0, sizeof(v));
	v.sz = sizeof(v);
	if (node_remote(w, node)) {
		sx_remote_info(w, node, &v);
	} else {
		no = &w->ncfg->opts[node];
		v.rank = -1;
		v.pid = w->mode_threads || exec_dead(&w->chips.ex[node]) ? 0 :
			w->chips.ex[node].pid;
		v.nr_chips = OPTS_OR(no, nr_chips, 1);
		v.nr_subs = OPTS_GET(no, nr_subs, 0);
		v.fault_isolated = 1;	/* a dead local node is forked again */
		gethostname(v.host, sizeof(v.host));
		v.host[sizeof(v.host) - 1] = 0;
	}
	return sx_opts_out(i, &v, sizeof(v), "simpler_node_info", "simpler_node_info",
			   worker_errbuf((struct simpler_worker *)w));
}

SIMPLER_API int simpler_register_node_fn(struct simpler_worker *w, const char *name,
					 simpler_node_fn fn)
{
	if (w && !w->nodes)
		return werr(w, -EINVAL, "register_node_fn: this worker is an L3: node functions "
			    "run on the nodes of an L4 (create it with level = 4)");
	return sx_register(w, name, (const void *)(uintptr_t)fn, CALLABLE_NODE_FN);
}
