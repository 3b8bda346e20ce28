// SPDX-License-Identifier: MIT
/*
 * Workers: creation and teardown, error messages, the callable registry,
 * statistics, chip memory and host-memory registration entry points.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "internal.h"
#include "tensormap.h"

static __thread char last_errmsg[ERRMSG_LEN];

int werr(struct simpler_worker *w, int err, const char *fmt, ...)
{
	char *buf = w ? w->errmsg : last_errmsg;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return err;
}

SIMPLER_API const char *simpler_worker_errmsg(const struct simpler_worker *w)
{
	return w ? w->errmsg : last_errmsg;
}

SIMPLER_API const char *simpler_last_errmsg(void)
{
	return last_errmsg;
}

SIMPLER_API int simpler_worker_nr_chips(const struct simpler_worker *w)
{
	return w ? w->chips.n : -EINVAL;
}

SIMPLER_API int simpler_worker_nr_subs(const struct simpler_worker *w)
{
	return w ? w->subs.n : -EINVAL;
}

/* ---- platforms ---- */

static const struct simpler_platform_ops *const platforms[] = { &simpler_platform_sim };

const struct simpler_platform_ops *simpler_platform_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++)
		if (!strcmp(platforms[i]->name, name))
			return platforms[i];
	return NULL;
}

const char *simpler_platform_names(void)
{
	return "sim";
}

/* ---- create / destroy ---- */

static void pool_fini(struct simpler_worker *w, struct pool *p)
{
	int i;

	for (i = 0; p->ex && i < p->n; i++) {
		if (p->ex[i].chip)
			w->plat->chip_close(p->ex[i].chip);
		exec_ctx_free(&p->ex[i]);
	}
	free(p->ex);
	p->ex = NULL;
}

static int pool_init(struct simpler_worker *w, struct pool *p, bool chips, int n)
{
	char err[256];
	int i, ret;

	p->chips = chips;
	p->n = n;
	spin_init(&p->qlock);
	p->ex = calloc(n ? n : 1, sizeof(*p->ex));
	if (!p->ex)
		return werr(NULL, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct exec *ex = &p->ex[i];

		ex->w = w;
		ex->pool = p;
		ex->index = i;
		ec_init(&ex->ec, false);
		if (exec_ctx_alloc(ex))
			return werr(NULL, -ENOMEM, "out of memory");
		if (!chips)
			continue;
		ret = w->plat->chip_open(&w->pcfg, i, &ex->chip, err, sizeof(err));
		if (ret)
			return werr(NULL, ret, "chip %d: cannot open on platform '%s': %s", i,
				    w->plat->name, err);
	}
	return 0;
}

static void worker_free(struct simpler_worker *w)
{
	uint32_t i;

	if (!w)
		return;
	sched_stop(w);
	pool_fini(w, &w->chips);
	pool_fini(w, &w->subs);
	orch_free_all(w);	/* releases TensorMap registrations and edges */
	for (i = 0; w->tasks && i < w->ring_size; i++) {
		struct task *t = &w->tasks[i];

		free(t->members);
		free(t->tensors);
		free(t->acc);
		free(t->scalars);
		free(t->refs);
	}
	free(w->tasks);
	tm_free(w->tm);
	arena_destroy(w->arena);
	free(w->hostbufs_v);
	pthread_mutex_destroy(&w->group_lock);
	pthread_mutex_destroy(&w->reg_lock);
	pthread_mutex_destroy(&w->mem_lock);
	free(w);
}

/* bytes of a newer caller's options struct that this library does not know */
static int opts_tail_zero(const void *opts, size_t sz, size_t known)
{
	const unsigned char *p = opts;
	size_t i;

	for (i = known; i < sz; i++)
		if (p[i])
			return 0;
	return 1;
}

SIMPLER_API int simpler_worker_create(const struct simpler_worker_opts *o, struct simpler_worker **out)
{
	const char *pname = OPTS_GET(o, platform, NULL);
	int nr_chips = OPTS_GET(o, nr_chips, 0), nr_subs = OPTS_GET(o, nr_subs, 0);
	unsigned flags = OPTS_GET(o, flags, 0);
	uint32_t ring = OPTS_GET(o, ring_size, 0), i;
	uint64_t arena_sz = OPTS_GET(o, arena_size, 0);
	struct simpler_worker *w;
	int ret;

	if (!out)
		return werr(NULL, -EINVAL, "simpler_worker_create: NULL output pointer");
	*out = NULL;
	if (o && o->sz > sizeof(*o) && !opts_tail_zero(o, o->sz, sizeof(*o)))
		return werr(NULL, -E2BIG, "simpler_worker_create: options set fields this "
			    "library (%d.%d) does not know", SIMPLER_VERSION_MAJOR,
			    SIMPLER_VERSION_MINOR);
	if (o && o->sz < offsetof(struct simpler_worker_opts, platform))
		return werr(NULL, -EINVAL, "simpler_worker_create: opts.sz is %zu: set it to "
			    "sizeof(struct simpler_worker_opts) or use SIMPLER_OPTS()", o->sz);
	if (flags & ~(SIMPLER_WORKER_THREADS | SIMPLER_WORKER_STAGING))
		return werr(NULL, -EINVAL, "simpler_worker_create: unknown flags 0x%x",
			    flags & ~(SIMPLER_WORKER_THREADS | SIMPLER_WORKER_STAGING));
	if (!(flags & SIMPLER_WORKER_THREADS))
		return werr(NULL, -EOPNOTSUPP, "simpler_worker_create: chip processes are not "
			    "implemented yet: pass flags = SIMPLER_WORKER_THREADS to run chips "
			    "and subs as threads");
	if (nr_chips == 0)
		nr_chips = 1;
	if (nr_chips < 0 || nr_chips > MAX_EXECS || nr_subs < 0 || nr_subs > MAX_EXECS)
		return werr(NULL, -EINVAL, "simpler_worker_create: nr_chips %d and nr_subs %d "
			    "must be in 0..%d", nr_chips, nr_subs, MAX_EXECS);
	if (ring == 0)
		ring = DEFAULT_RING_SIZE;
	if (ring < 2 || ring > (1U << 20) || (ring & (ring - 1)))
		return werr(NULL, -EINVAL, "simpler_worker_create: ring_size %u must be a power "
			    "of two in 2..%u", ring, 1U << 20);

	w = calloc(1, sizeof(*w));
	if (!w)
		return werr(NULL, -ENOMEM, "simpler_worker_create: out of memory");
	pthread_mutex_init(&w->group_lock, NULL);
	pthread_mutex_init(&w->reg_lock, NULL);
	pthread_mutex_init(&w->mem_lock, NULL);
	ec_init(&w->group_ec, false);
	ec_init(&w->slot_ec, false);
	ec_init(&w->frame_ec, false);
	ec_init(&w->run.done_ec, false);
	w->flags = flags;
	w->spin_ns = (uint64_t)(OPTS_GET(o, spin_us, 0) ? OPTS_GET(o, spin_us, 0) :
				DEFAULT_SPIN_US) * 1000;
	w->orch.w = w;

	w->plat = simpler_platform_find(pname ? pname : "sim");
	if (!w->plat) {
		free(w);
		return werr(NULL, -ENOENT, "simpler_worker_create: unknown platform '%s' "
			    "(known: %s)", pname, simpler_platform_names());
	}
	w->pcfg.mem_size = OPTS_GET(o, chip_mem_size, 0) ? OPTS_GET(o, chip_mem_size, 0) :
			   DEFAULT_CHIP_MEM;
	w->pcfg.cores = OPTS_GET(o, cores_per_chip, 0) ? OPTS_GET(o, cores_per_chip, 0) :
			DEFAULT_CORES;
	w->pcfg.staging = !!(flags & SIMPLER_WORKER_STAGING);
	w->pcfg.spin_us = (uint32_t)(w->spin_ns / 1000);
	w->caps = w->plat->caps(&w->pcfg);

	w->ring_size = ring;
	w->tasks = calloc(ring, sizeof(*w->tasks));
	w->tm = tm_new(1 + (uint32_t)nr_chips);
	w->arena = arena_new(arena_sz ? arena_sz : DEFAULT_ARENA_SIZE);
	if (!w->tasks || !w->tm || !w->arena) {
		worker_free(w);
		return werr(NULL, -ENOMEM, "simpler_worker_create: out of memory (ring %u, "
			    "arena %" PRIu64 " bytes)", ring,
			    arena_sz ? arena_sz : DEFAULT_ARENA_SIZE);
	}
	for (i = 0; i < ring; i++) {
		w->tasks[i].free_next = w->free_local;
		w->free_local = &w->tasks[i];
	}

	ret = pool_init(w, &w->chips, true, nr_chips);
	if (!ret)
		ret = pool_init(w, &w->subs, false, nr_subs);
	if (!ret)
		ret = sched_start(w);
	if (ret) {
		if (w->errmsg[0])
			werr(NULL, ret, "%s", w->errmsg);
		worker_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

SIMPLER_API void simpler_worker_destroy(struct simpler_worker *w)
{
	struct timespec ms = { 0, 1000000 };

	if (!w)
		return;
	/* another thread's run ends first (teardown may poll; no task waits on it) */
	while (atomic_load(&w->running))
		nanosleep(&ms, NULL);
	worker_free(w);
}

/* ---- callables ---- */

SIMPLER_API int simpler_register(struct simpler_worker *w, const char *name, simpler_kernel_fn fn)
{
	uint32_t n, i;

	if (!w)
		return -EINVAL;
	if (!fn || !name || !name[0] || strlen(name) >= CALLABLE_NAME_LEN)
		return werr(w, -EINVAL, "register: need a kernel function and a name of 1..%d bytes",
			    CALLABLE_NAME_LEN - 1);
	pthread_mutex_lock(&w->reg_lock);
	n = atomic_load_explicit(&w->nr_callables, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		if (!strcmp(w->callables[i].name, name)) {
			pthread_mutex_unlock(&w->reg_lock);
			return werr(w, -EEXIST, "register: '%s' is already callable %u", name, i);
		}
	}
	if (n == MAX_CALLABLES) {
		pthread_mutex_unlock(&w->reg_lock);
		return werr(w, -ENOSPC, "register: at most %d callables", MAX_CALLABLES);
	}
	w->callables[n].fn = fn;
	snprintf(w->callables[n].name, CALLABLE_NAME_LEN, "%s", name);
	/* pairs with the acquire loads of nr_callables in submit and the executors */
	atomic_store_explicit(&w->nr_callables, n + 1, memory_order_release);
	pthread_mutex_unlock(&w->reg_lock);
	return (int)n;
}

SIMPLER_API int simpler_callable(struct simpler_worker *w, const char *name)
{
	uint32_t n, i;

	if (!w || !name)
		return -EINVAL;
	n = atomic_load_explicit(&w->nr_callables, memory_order_acquire);
	for (i = 0; i < n; i++)
		if (!strcmp(w->callables[i].name, name))
			return (int)i;
	return werr(w, -ENOENT, "no callable is registered as '%s'", name);
}

/* ---- statistics ---- */

SIMPLER_API int simpler_worker_stats(const struct simpler_worker *w, struct simpler_stats *s)
{
	struct simpler_stats v;
	size_t n;
	int i;

	if (!w || !s || s->sz < sizeof(size_t))
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	v.sz = sizeof(v);
	v.tasks_submitted = atomic_load(&w->st_submitted);
	for (i = 0; i < w->chips.n; i++) {
		v.tasks_completed += atomic_load(&w->chips.ex[i].st_completed);
		v.bytes_staged += atomic_load(&w->chips.ex[i].st_staged);
	}
	for (i = 0; i < w->subs.n; i++)
		v.tasks_completed += atomic_load(&w->subs.ex[i].st_completed);
	v.tasks_failed = atomic_load(&w->st_failed);
	v.edges = atomic_load(&w->st_edges);
	v.tensormap_fast = atomic_load(&w->st_fast);
	v.tensormap_slow = atomic_load(&w->st_slow);
	v.submit_waits = atomic_load(&w->st_submit_waits);
	n = s->sz < sizeof(v) ? s->sz : sizeof(v);
	memcpy((char *)s + sizeof(size_t), (char *)&v + sizeof(size_t), n - sizeof(size_t));
	return 0;
}

/* ---- chip memory ---- */

static int chip_arg(struct simpler_worker *w, const char *op, int chip)
{
	if (!w)
		return -EINVAL;
	if (chip < 0 || chip >= w->chips.n)
		return werr(w, -EINVAL, "%s: chip %d does not exist (the worker has %d)", op, chip,
			    w->chips.n);
	return 0;
}

SIMPLER_API int simpler_malloc(struct simpler_worker *w, int chip, size_t n, uint64_t *chip_addr)
{
	char err[256];
	int ret = chip_arg(w, "simpler_malloc", chip);

	if (ret)
		return ret;
	if (!chip_addr)
		return werr(w, -EINVAL, "simpler_malloc: NULL chip_addr");
	ret = w->plat->mem_alloc(w->chips.ex[chip].chip, n, chip_addr, err, sizeof(err));
	if (ret)
		return werr(w, ret, "simpler_malloc: chip %d: %s", chip, err);
	return 0;
}

SIMPLER_API int simpler_free(struct simpler_worker *w, int chip, uint64_t chip_addr)
{
	char err[256], why[256];
	int ret = chip_arg(w, "simpler_free", chip), c;

	if (ret)
		return ret;
	ret = w->plat->mem_free(w->chips.ex[chip].chip, chip_addr, err, sizeof(err));
	if (!ret)
		return 0;
	/* a foreign free: say whose it is */
	for (c = 0; c < w->chips.n; c++)
		if (c != chip && !w->plat->mem_check(w->chips.ex[c].chip, chip_addr, 1, why,
						     sizeof(why)))
			return werr(w, ret, "simpler_free: 0x%" PRIx64 " belongs to chip %d, "
				    "not chip %d: free it on chip %d", chip_addr, c, chip, c);
	return werr(w, ret, "simpler_free: chip %d: %s", chip, err);
}

SIMPLER_API int simpler_copy_to(struct simpler_worker *w, int chip, uint64_t chip_addr,
				const void *src, size_t n)
{
	char err[256];
	int ret = chip_arg(w, "simpler_copy_to", chip);

	if (ret)
		return ret;
	if (!src && n)
		return werr(w, -EFAULT, "simpler_copy_to: NULL source");
	ret = w->plat->copy_to(w->chips.ex[chip].chip, chip_addr, src, n, err, sizeof(err));
	if (ret)
		return werr(w, ret, "simpler_copy_to: chip %d: %s", chip, err);
	return 0;
}

SIMPLER_API int simpler_copy_from(struct simpler_worker *w, int chip, void *dst,
				  uint64_t chip_addr, size_t n)
{
	char err[256];
	int ret = chip_arg(w, "simpler_copy_from", chip);

	if (ret)
		return ret;
	if (!dst && n)
		return werr(w, -EFAULT, "simpler_copy_from: NULL destination");
	ret = w->plat->copy_from(w->chips.ex[chip].chip, dst, chip_addr, n, err, sizeof(err));
	if (ret)
		return werr(w, ret, "simpler_copy_from: chip %d: %s", chip, err);
	return 0;
}

/* ---- host memory ---- */

SIMPLER_API int simpler_host_register(struct simpler_worker *w, void *addr, size_t len,
				      unsigned flags, uint64_t *handle)
{
	struct hostbuf *v;
	size_t i;

	if (!w)
		return -EINVAL;
	if (!addr || !len || (uintptr_t)addr + len < (uintptr_t)addr)
		return werr(w, -EINVAL, "host_register: need a non-NULL address and a length > 0");
	if (flags)
		return werr(w, -EINVAL, "host_register: unknown flags 0x%x", flags);
	pthread_mutex_lock(&w->mem_lock);
	for (i = 0; i < w->nr_hostbufs; i++) {
		uintptr_t a = w->hostbufs_v[i].addr, b = a + w->hostbufs_v[i].len;

		if ((uintptr_t)addr < b && a < (uintptr_t)addr + len) {
			pthread_mutex_unlock(&w->mem_lock);
			return werr(w, -EEXIST, "host_register: %p (%zu bytes) overlaps the buffer "
				    "registered as handle %" PRIu64, addr, len,
				    w->hostbufs_v[i].handle);
		}
	}
	v = realloc(w->hostbufs_v, (w->nr_hostbufs + 1) * sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&w->mem_lock);
		return werr(w, -ENOMEM, "host_register: out of memory");
	}
	w->hostbufs_v = v;
	v[w->nr_hostbufs].addr = (uintptr_t)addr;
	v[w->nr_hostbufs].len = len;
	v[w->nr_hostbufs].handle = ++w->next_hostbuf;
	if (handle)
		*handle = v[w->nr_hostbufs].handle;
	w->nr_hostbufs++;
	pthread_mutex_unlock(&w->mem_lock);
	return 0;
}

SIMPLER_API int simpler_host_unregister(struct simpler_worker *w, uint64_t handle)
{
	size_t i;

	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->mem_lock);
	for (i = 0; i < w->nr_hostbufs; i++) {
		if (w->hostbufs_v[i].handle == handle) {
			w->hostbufs_v[i] = w->hostbufs_v[--w->nr_hostbufs];
			pthread_mutex_unlock(&w->mem_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&w->mem_lock);
	return werr(w, -ENOENT, "host_unregister: no buffer has handle %" PRIu64, handle);
}

SIMPLER_API int simpler_host_check(struct simpler_worker *w, const void *addr, size_t len)
{
	if (!w)
		return -EINVAL;
	if (!addr || !len || (uintptr_t)addr + len < (uintptr_t)addr)
		return werr(w, -EINVAL, "host_check: need a non-NULL address and a length > 0");
	/* threads share the application's address space: everything is visible */
	return 0;
}
