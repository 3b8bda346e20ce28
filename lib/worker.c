// SPDX-License-Identifier: MIT
/*
 * Workers: creation and teardown, error messages, the callable registry,
 * statistics, chip memory and host-memory registration entry points.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "base/arena.h"
#include "boot.h"
#include "hostmem.h"
#include "lanes.h"
#include "mailbox.h"
#include "orch.h"
#include "proc.h"
#include "scheduler.h"
#include "tensormap.h"

SIMPLER_API unsigned simpler_version(void)
{
	return SIMPLER_VERSION;
}

SIMPLER_API const char *simpler_version_string(void)
{
	return SIMPLER_VERSION_STRING;
}

SIMPLER_API const char *simpler_worker_errmsg(const struct simpler_worker *w)
{
	return w ? w->errmsg : sx_err_last();
}

SIMPLER_API const char *simpler_last_errmsg(void)
{
	return sx_err_last();
}

SIMPLER_API int simpler_worker_nr_chips(const struct simpler_worker *w)
{
	if (!w)
		return werr(NULL, -EINVAL, "worker_nr_chips: NULL worker");
	return w->nodes ? 0 : w->chips.n;
}

SIMPLER_API int simpler_worker_nr_nodes(const struct simpler_worker *w)
{
	if (!w)
		return werr(NULL, -EINVAL, "worker_nr_nodes: NULL worker");
	return w->nodes ? w->chips.n : 0;
}

SIMPLER_API int simpler_worker_level(const struct simpler_worker *w)
{
	if (!w)
		return werr(NULL, -EINVAL, "worker_level: NULL worker");
	return w->nodes ? 4 : 3;
}

SIMPLER_API int simpler_worker_nr_subs(const struct simpler_worker *w)
{
	return w ? w->subs.n : werr(NULL, -EINVAL, "worker_nr_subs: NULL worker");
}

/* ---- platforms ---- */

static const struct simpler_platform_ops *const platforms[] = { &sx_platform_sim };

const struct simpler_platform_ops *sx_platform_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++)
		if (!strcmp(platforms[i]->name, name))
			return platforms[i];
	return NULL;
}

const char *sx_platform_names(void)
{
	return "sim";
}

/* ---- create / destroy ---- */

static void pool_fini(struct simpler_worker *w, struct pool *p)
{
	int i;

	for (i = 0; p->ex && i < p->n; i++) {
		if (p->ex[i].cs.chip)
			w->plat->chip_close(p->ex[i].cs.chip);
		sx_chipside_fini(&p->ex[i].cs);
	}
	free(p->ex);
	p->ex = NULL;
}

/* the executors; in thread mode also the chips themselves */
static int pool_init(struct simpler_worker *w, struct pool *p, bool chips, int n)
{
	struct simpler_chip *chip = NULL;
	char err[ERRMSG_LEN];
	int i, ret;

	p->chips = chips;
	p->n = n;
	spin_init(&p->qlock);
	p->ex = calloc(n ? n : 1, sizeof(*p->ex));
	if (!p->ex)
		return werr(w, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct exec *ex = &p->ex[i];

		ex->w = w;
		ex->pool = p;
		ex->index = i;
		ex->pidfd = -1;
		ex->remote = chips && w->ncfg && i >= w->ncfg->nlocal;
		ec_init(&ex->ec, false);
		if (!w->mode_threads)
			continue;
		if (chips) {
			ret = w->plat->chip_open(&w->pcfg, i, &chip, err, sizeof(err));
			if (ret && w->nodes)
				return werr(w, ret, "node %d: cannot start its L3 worker: %s", i,
					    err);
			if (ret)
				return werr(w, ret, "chip %d: cannot open on platform '%s': %s", i,
					    w->plat->name, err);
		}
		if (sx_chipside_init(&ex->cs, w->plat, chip, w->caps, pool_kind(w, p), i, 0)) {
			if (chip)
				w->plat->chip_close(chip);
			return werr(w, -ENOMEM, "out of memory");
		}
		/* one thread bootstraps them all, in order: no barrier to meet */
		if (chip && w->boot) {
			ex->cs.boot = w->boot;
			ret = sx_boot_attach(&ex->cs, w->boot, true, false, err, sizeof(err));
			if (ret)
				return werr(w, ret, "chip %d bootstrap failed: %s", i, err);
		}
	}
	return 0;
}

static void worker_free(struct simpler_worker *w)
{
	uint32_t i;

	if (!w)
		return;
	sx_sched_stop(w);
	if (!w->mode_threads)
		sx_proc_destroy(w);
	pool_fini(w, &w->chips);
	pool_fini(w, &w->subs);
	sx_boot_fini(w);		/* after every chip: the domains go exactly once */
	sx_hostmem_fini(w);
	sx_orch_free_all(w);	/* releases TensorMap registrations and edges */
	for (i = 0; w->tasks && i < w->ring_size; i++) {
		struct task *t = &w->tasks[i];

		free(t->members);
		free(t->tensors);
		free(t->acc);
		free(t->strides);
		free(t->reg);
		free(t->scalars);
		free(t->refs);
	}
	free(w->tasks);
	if (w->loadavg_fd >= 0)
		close(w->loadavg_fd);
	sx_tm_free(w->tm);
	sx_arena_destroy(w->arena);
	if (w->ctab)
		munmap(w->ctab, sizeof(*w->ctab));
	pthread_mutex_destroy(&w->group_lock);
	pthread_mutex_destroy(&w->reg_lock);
	pthread_mutex_destroy(&w->mem_lock);
	pthread_mutex_destroy(&w->proc_lock);
	free(w->ncfg);
	free(w);
}

/* the worker options with every default applied: the one place defaults live */
struct wcfg {
	const char *platform;
	int nr_chips, nr_subs;
	unsigned flags, hostmem;
	uint32_t ring, start_timeout_ms, cores, comm_timeout_ms;
	const struct simpler_bootstrap_config *bootstrap;
	uint64_t arena, mirror, chip_mem, spin_ns;
};

static void opts_resolve(const struct simpler_worker_opts *o, struct wcfg *c)
{
	c->platform = OPTS_OR(o, platform, "sim");
	c->nr_chips = OPTS_OR(o, nr_chips, 1);
	c->nr_subs = OPTS_GET(o, nr_subs, 0);
	c->flags = OPTS_GET(o, flags, 0);
	c->hostmem = OPTS_GET(o, hostmem, SIMPLER_HOSTMEM_AUTO);
	c->ring = OPTS_OR(o, ring_size, DEFAULT_RING_SIZE);
	c->arena = OPTS_OR(o, arena_size, DEFAULT_ARENA_SIZE);
	c->mirror = OPTS_OR(o, shm_mirror_size, DEFAULT_MIRROR_SIZE);
	c->start_timeout_ms = OPTS_OR(o, start_timeout_ms, DEFAULT_START_TIMEOUT_MS);
	c->spin_ns = (uint64_t)OPTS_OR(o, spin_us, DEFAULT_SPIN_US) * 1000;
	c->chip_mem = OPTS_OR(o, chip_mem_size, DEFAULT_CHIP_MEM);
	c->cores = OPTS_OR(o, cores_per_chip, DEFAULT_CORES);
	c->bootstrap = OPTS_GET(o, bootstrap, NULL);
	c->comm_timeout_ms = OPTS_OR(o, comm_timeout_ms, DEFAULT_COMM_TIMEOUT_MS);
}

#define WORKER_FLAGS (SIMPLER_WORKER_THREADS | SIMPLER_WORKER_STAGING | SIMPLER_WORKER_NO_BIND | \
		      SIMPLER_WORKER_MPI)

static int opts_check(const struct wcfg *c)
{
	if (c->flags & ~WORKER_FLAGS)
		return werr(NULL, -EINVAL, "simpler_worker_create: unknown flags 0x%x",
			    c->flags & ~WORKER_FLAGS);
	if (c->hostmem > SIMPLER_HOSTMEM_SHM)
		return werr(NULL, -EINVAL, "simpler_worker_create: hostmem %u is not one of "
			    "SIMPLER_HOSTMEM_AUTO, _KMOD, _SHM", c->hostmem);
	if (c->nr_chips < 0 || c->nr_chips > MAX_EXECS || c->nr_subs < 0 || c->nr_subs > MAX_EXECS)
		return werr(NULL, -EINVAL, "simpler_worker_create: nr_chips %d and nr_subs %d "
			    "must be in 0..%d", c->nr_chips, c->nr_subs, MAX_EXECS);
	if (c->ring < 2 || c->ring > (1U << 20) || (c->ring & (c->ring - 1)))
		return werr(NULL, -EINVAL, "simpler_worker_create: ring_size %u must be a power "
			    "of two in 2..%u", c->ring, 1U << 20);
	return 0;
}

int sx_worker_create(const struct simpler_worker_opts *o, const struct simpler_platform_ops *nplat,
		     struct sx_nodes *ncfg, struct simpler_worker **out)
{
	struct simpler_worker *w;
	struct wcfg c;
	uint32_t i;
	int ret;

	*out = NULL;
	opts_resolve(o, &c);
	if (ncfg) {
		/* the chip pool holds the nodes; a node binds nothing: its chips do */
		c.nr_chips = ncfg->n;
		c.flags |= SIMPLER_WORKER_NO_BIND;
	}
	ret = opts_check(&c);
	if (ret) {
		free(ncfg);
		return ret;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		free(ncfg);
		return werr(NULL, -ENOMEM, "simpler_worker_create: out of memory");
	}
	w->nodes = ncfg != NULL;
	w->ncfg = ncfg;
	pthread_mutex_init(&w->group_lock, NULL);
	pthread_mutex_init(&w->reg_lock, NULL);
	pthread_mutex_init(&w->mem_lock, NULL);
	pthread_mutex_init(&w->proc_lock, NULL);
	ec_init(&w->group_ec, false);
	ec_init(&w->slot_ec, false);
	ec_init(&w->frame_ec, false);
	ec_init(&w->run.done_ec, false);
	w->flags = c.flags;
	w->mode_threads = !!(c.flags & SIMPLER_WORKER_THREADS);
	w->proc_evfd = -1;
	w->loadavg_fd = -1;
	w->start_timeout_ms = c.start_timeout_ms;
	w->spin_ns = c.spin_ns;
	w->standby_ns = w->spin_ns * 4 > STANDBY_MIN_NS ? w->spin_ns * 4 : STANDBY_MIN_NS;
	w->ncpus = sx_usable_cpus();
	/* without it nobody learns of other programs: spinning stays as our own CPUs allow */
	w->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	w->orch.w = w;

	w->plat = ncfg ? nplat : sx_platform_find(c.platform);
	if (!w->plat) {
		worker_free(w);
		return werr(NULL, -ENOENT, "simpler_worker_create: unknown platform '%s' "
			    "(known: %s)", c.platform, sx_platform_names());
	}
	w->pcfg.mem_size = c.chip_mem;
	w->pcfg.cores = c.cores;
	w->pcfg.staging = !!(c.flags & SIMPLER_WORKER_STAGING);
	w->pcfg.spin_us = (uint32_t)(w->spin_ns / 1000);
	w->pcfg.ext = ncfg;
	w->caps = w->plat->caps(&w->pcfg);

	w->ring_size = c.ring;
	w->tasks = calloc(c.ring, sizeof(*w->tasks));
	w->tm = sx_tm_new(1 + (uint32_t)c.nr_chips);
	w->arena = sx_arena_new(c.arena);
	/* registrations made after a fork reach the children through this */
	w->ctab = mmap(NULL, sizeof(*w->ctab), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (w->ctab == MAP_FAILED)
		w->ctab = NULL;
	if (!w->tasks || !w->tm || !w->arena || !w->ctab) {
		worker_free(w);
		return werr(NULL, -ENOMEM, "simpler_worker_create: out of memory (ring %u, "
			    "arena %" PRIu64 " bytes)", c.ring, c.arena);
	}
	if (ncfg) {
		ncfg->ctab = w->ctab;
		ncfg->threads = w->mode_threads;
	}
	for (i = 0; i < c.ring; i++) {
		w->tasks[i].free_next = w->free_fresh;
		w->free_fresh = &w->tasks[i];
	}

	/* the bootstrap configs, checked before any chip or comm state exists */
	ret = sx_boot_prepare(w, c.bootstrap, c.nr_chips, c.comm_timeout_ms);
	if (!ret)
		ret = sx_boot_comm_create(w);
	if (!ret)
		ret = pool_init(w, &w->chips, true, c.nr_chips);
	if (!ret)
		ret = pool_init(w, &w->subs, false, c.nr_subs);
	/* the sentinel (kmod) or the mirror arena, then the forks, then threads */
	if (!ret)
		ret = sx_hostmem_init(w, c.hostmem, c.mirror);
	if (!ret && !w->mode_threads)
		ret = sx_proc_create(w);
	if (!ret)
		ret = sx_sched_start(w);
	if (ret) {
		werr(NULL, ret, "simpler_worker_create: %s", w->errmsg);
		worker_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

void sx_worker_destroy(struct simpler_worker *w)
{
	worker_free(w);
}

/* ---- callables ---- */

/*
 * Where fn lives, so a chip (or node) process can find it: the object and
 * its load address.  A function outside every loaded object cannot reach a
 * process.
 */
static int locate(struct simpler_worker *w, const char *name, const void *fn,
		  struct shared_callable *c)
{
	const char *what = callable_word(c);
	struct link_map *lm = NULL;
	Dl_info info;

	if (!dladdr1(fn, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return werr(w, -EINVAL, "register: %s '%s' at %p is not in the program or "
			    "a shared object, so the %s processes cannot call it: put it in "
			    "one, or create the worker with SIMPLER_WORKER_THREADS", what, name, fn,
			    w->nodes ? "node" : "chip");
	if (strlen(lm->l_name) >= sizeof(c->obj))
		return werr(w, -ENAMETOOLONG, "register: %s '%s' lives in %s, whose path is "
			    "longer than %zu bytes", what, name, lm->l_name, sizeof(c->obj) - 1);
	c->obj_base = lm->l_addr;
	snprintf(c->obj, sizeof(c->obj), "%s", lm->l_name);
	return 0;
}

int sx_register(struct simpler_worker *w, const char *name, const void *fn, unsigned kind)
{
	struct shared_callable *c;
	uint32_t n, i;
	int ret;

	if (!w)
		return werr(NULL, -EINVAL, "register: NULL worker");
	if (!fn || !name || !name[0] || strlen(name) >= CALLABLE_NAME_LEN)
		return werr(w, -EINVAL, "register: need a function and a name of 1..%d bytes",
			    CALLABLE_NAME_LEN - 1);
	pthread_mutex_lock(&w->reg_lock);
	n = atomic_load_explicit(&w->ctab->count, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		if (!strcmp(w->ctab->v[i].name, name)) {
			pthread_mutex_unlock(&w->reg_lock);
			return werr(w, -EEXIST, "register: '%s' is already callable %u", name, i);
		}
	}
	if (n == MAX_CALLABLES) {
		pthread_mutex_unlock(&w->reg_lock);
		return werr(w, -ENOSPC, "register: at most %d callables", MAX_CALLABLES);
	}
	c = &w->ctab->v[n];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	if (!w->mode_threads) {
		ret = locate(w, name, fn, c);
		if (ret) {
			pthread_mutex_unlock(&w->reg_lock);
			return ret;
		}
	}
	c->fn = (uintptr_t)fn;
	snprintf(c->name, sizeof(c->name), "%s", name);
	/* pairs with nr_callables(): submit, the executors and the children */
	atomic_store_explicit(&w->ctab->count, n + 1, memory_order_release);
	pthread_mutex_unlock(&w->reg_lock);
	return (int)n;
}

SIMPLER_API int simpler_register(struct simpler_worker *w, const char *name, simpler_kernel_fn fn)
{
	return sx_register(w, name, (const void *)(uintptr_t)fn, CALLABLE_KERNEL);
}

SIMPLER_API int simpler_callable(struct simpler_worker *w, const char *name)
{
	uint32_t n, i;

	if (!w)
		return werr(NULL, -EINVAL, "callable: NULL worker");
	if (!name)
		return werr(w, -EINVAL, "callable: NULL name");
	n = nr_callables(w);
	for (i = 0; i < n; i++)
		if (!strcmp(w->ctab->v[i].name, name))
			return (int)i;
	return werr(w, -ENOENT, "no callable is registered as '%s'", name);
}

/* ---- statistics ---- */

/* counters are independent: each is read on its own, with no order between them */
#define STAT_GET(x) atomic_load_explicit(&(x), memory_order_relaxed)

SIMPLER_API int simpler_worker_stats(const struct simpler_worker *w, struct simpler_stats *s)
{
	struct simpler_stats v;
	int i;

	if (!w)
		return werr(NULL, -EINVAL, "simpler_worker_stats: NULL worker");
	memset(&v, 0, sizeof(v));
	v.sz = sizeof(v);
	v.tasks_submitted = STAT_GET(w->st_submitted);
	for (i = 0; i < w->chips.n; i++) {
		v.tasks_completed += STAT_GET(w->chips.ex[i].st_completed);
		v.bytes_staged += STAT_GET(w->chips.ex[i].st_staged);
	}
	for (i = 0; i < w->subs.n; i++)
		v.tasks_completed += STAT_GET(w->subs.ex[i].st_completed);
	v.tasks_failed = STAT_GET(w->st_failed);
	v.edges = STAT_GET(w->st_edges);
	v.tensormap_fast = STAT_GET(w->st_fast);
	v.tensormap_slow = STAT_GET(w->st_slow);
	v.submit_waits = STAT_GET(w->st_submit_waits);
	v.host_bytes_copied = STAT_GET(w->st_host_copied);
	v.chip_restarts = STAT_GET(w->st_restarts);
	v.bytes_to_nodes = STAT_GET(w->st_to_nodes);
	v.bytes_from_nodes = STAT_GET(w->st_from_nodes);
	v.transfers = STAT_GET(w->st_transfers);
	v.transfer_cache_hits = STAT_GET(w->st_hits);
	v.nodes_lost = STAT_GET(w->st_lost);
	v.tasks_sent_ahead = STAT_GET(w->st_ahead);
	v.slots_used = STAT_GET(w->st_slots_used);
	return sx_opts_out(s, &v, sizeof(v), "simpler_worker_stats", "simpler_stats",
			   worker_errbuf(w));
}

/* ---- chip memory ---- */

static int chip_arg(struct simpler_worker *w, const char *op, int chip)
{
	if (!w)
		return werr(NULL, -EINVAL, "%s: NULL worker", op);
	if (w->nodes && chip >= 0 && chip < w->chips.n && !node_remote(w, chip))
		return werr(w, -EOPNOTSUPP, "%s: node %d is forked on this host: its memory is "
			    "this host's (pass shared memory to its node fns; chip memory is "
			    "allocated inside a node fn, on the node's own worker); node memory "
			    "is for remote nodes (SIMPLER_WORKER_MPI)", op, chip);
	if (w->nodes && (chip < 0 || chip >= w->chips.n))
		return werr(w, -EINVAL, "%s: node %d does not exist (the worker has %d)", op, chip,
			    w->chips.n);
	if (chip < 0 || chip >= w->chips.n)
		return werr(w, -EINVAL, "%s: chip %d does not exist (the worker has %d)", op, chip,
			    w->chips.n);
	return 0;
}

/*
 * One chip-memory operation on chip c: on this thread's chip handle in
 * thread mode, through the chip's control lane in process mode.  Copies
 * move through the mailbox window a chunk at a time.
 */
static int chip_op(struct simpler_worker *w, int c, uint32_t op, uint64_t a0, void *buf,
		   uint64_t n, uint64_t *r0, char *err, size_t len)
{
	struct exec *ex = &w->chips.ex[c];
	struct simpler_chip *chip = ex->cs.chip;
	uint64_t done, k;
	int ret = 0;

	if (w->mode_threads) {
		switch (op) {
		case MB_OP_ALLOC:
			return w->plat->mem_alloc(chip, n, r0, err, len);
		case MB_OP_FREE:
			return w->plat->mem_free(chip, a0, err, len);
		case MB_OP_CHECK:
			return w->plat->mem_check(chip, a0, n, err, len);
		case MB_OP_COPY_TO:
			return w->plat->copy_to(chip, a0, buf, n, err, len);
		default:
			return w->plat->copy_from(chip, buf, a0, n, err, len);
		}
	}
	pthread_mutex_lock(&ex->ctl_lock);
	switch (op) {
	case MB_OP_ALLOC:
		ret = sx_lane_ctl(ex, op, n, 0, r0, err, len);
		break;
	case MB_OP_FREE:
		ret = sx_lane_ctl(ex, op, a0, 0, NULL, err, len);
		break;
	case MB_OP_CHECK:
		ret = sx_lane_ctl(ex, op, a0, n, NULL, err, len);
		break;
	default:
		/* the whole range first, so a bad copy moves nothing */
		ret = sx_lane_ctl(ex, MB_OP_CHECK, a0, n, NULL, err, len);
		for (done = 0; !ret && done < n; done += k) {
			k = n - done < MB_WINDOW ? n - done : MB_WINDOW;
			if (op == MB_OP_COPY_TO)
				memcpy(ex->mb->window, (char *)buf + done, k);
			ret = sx_lane_ctl(ex, op, a0 + done, k, NULL, err, len);
			if (!ret && op == MB_OP_COPY_FROM)
				memcpy((char *)buf + done, ex->mb->window, k);
		}
		break;
	}
	pthread_mutex_unlock(&ex->ctl_lock);
	return ret;
}

SIMPLER_API int simpler_malloc(struct simpler_worker *w, int chip, size_t n, uint64_t *chip_addr)
{
	char err[MB_MSG];
	int ret = chip_arg(w, "simpler_malloc", chip);

	if (ret)
		return ret;
	if (!chip_addr)
		return werr(w, -EINVAL, "simpler_malloc: NULL chip_addr");
	ret = chip_op(w, chip, MB_OP_ALLOC, 0, NULL, n, chip_addr, err, sizeof(err));
	if (ret)
		return werr(w, ret, "simpler_malloc: chip %d: %s", chip, err);
	return 0;
}

SIMPLER_API int simpler_free(struct simpler_worker *w, int chip, uint64_t chip_addr)
{
	char err[MB_MSG], why[MB_MSG];
	int ret = chip_arg(w, "simpler_free", chip), c;

	if (ret)
		return ret;
	ret = chip_op(w, chip, MB_OP_FREE, chip_addr, NULL, 0, NULL, err, sizeof(err));
	if (!ret)
		return 0;
	/*
	 * A foreign free: say whose it is, unless the address is this chip's
	 * own (each chip is its own address space: numbers may repeat).
	 */
	if (ret == -ECHILD || !chip_op(w, chip, MB_OP_CHECK, chip_addr, NULL, 1, NULL, why,
				       sizeof(why)))
		return werr(w, ret, "simpler_free: chip %d: %s", chip, err);
	for (c = 0; c < w->chips.n; c++)
		if (c != chip && !chip_op(w, c, MB_OP_CHECK, chip_addr, NULL, 1, NULL, why,
					  sizeof(why)))
			return werr(w, ret, "simpler_free: 0x%" PRIx64 " belongs to chip %d, "
				    "not chip %d: free it on chip %d", chip_addr, c, chip, c);
	return werr(w, ret, "simpler_free: chip %d: %s", chip, err);
}

SIMPLER_API int simpler_copy_to(struct simpler_worker *w, int chip, uint64_t chip_addr,
				const void *src, size_t n)
{
	char err[MB_MSG];
	int ret = chip_arg(w, "simpler_copy_to", chip);

	if (ret)
		return ret;
	if (!src && n)
		return werr(w, -EFAULT, "simpler_copy_to: NULL source");
	ret = chip_op(w, chip, MB_OP_COPY_TO, chip_addr, (void *)(uintptr_t)src, n, NULL, err,
		      sizeof(err));
	if (ret)
		return werr(w, ret, "simpler_copy_to: chip %d: %s", chip, err);
	return 0;
}

SIMPLER_API int simpler_copy_from(struct simpler_worker *w, int chip, void *dst,
				  uint64_t chip_addr, size_t n)
{
	char err[MB_MSG];
	int ret = chip_arg(w, "simpler_copy_from", chip);

	if (ret)
		return ret;
	if (!dst && n)
		return werr(w, -EFAULT, "simpler_copy_from: NULL destination");
	ret = chip_op(w, chip, MB_OP_COPY_FROM, chip_addr, dst, n, NULL, err, sizeof(err));
	if (ret)
		return werr(w, ret, "simpler_copy_from: chip %d: %s", chip, err);
	return 0;
}

SIMPLER_API const char *simpler_worker_hostmem(const struct simpler_worker *w)
{
	if (!w) {
		werr(NULL, -EINVAL, "worker_hostmem: NULL worker");
		errno = EINVAL;
		return NULL;
	}
	return sx_hostmem_name(w);
}
