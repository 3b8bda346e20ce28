// SPDX-License-Identifier: MIT
/*
 * platform/sim: a CPU simulation of a chip.  Chip memory is an arena in the
 * process that opens the chip (the chip process, or the application in
 * thread mode) with a first-fit allocator that knows every live allocation,
 * so unknown, double and foreign frees and overrunning copies are refused.
 * A launch runs its blocks on a persistent pool of core threads (block 0 on
 * the caller).  In staging mode the chip behaves like a discrete device:
 * kernels may only be given chip memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/extalloc.h"
#include "base/tensor.h"
#include "base/sync.h"
#include "../platform.h"

#define SIM_ALIGN 64
#define SIM_BASE 0x7e8000000000ULL	/* chip i reserves at SIM_BASE + i * SIM_SLOT */
#define SIM_SLOT (1ULL << 34)

struct sim_launch {
	simpler_kernel_fn fn;
	const struct simpler_kernel_args *args;
	_Atomic uint32_t next;		/* next block to run */
	_Atomic uint32_t done;		/* blocks finished */
	_Atomic int err;		/* first failing block's error */
	_Atomic uint32_t failed_block;
};

/*
 * A comm domain: one shared-memory region (a memfd, mapped in the
 * application before the chips start, so every chip process has it at the
 * same address): a header page with the barrier, then a window per rank.
 */
#define SIM_COMM_HDR 4096
#define SIM_COMM_ALIGN (64 * 1024)	/* windows are rounded up to this */
#define SIM_COMM_MAX (1ULL << 40)	/* bytes per window at most */

struct sim_comm_hdr {
	_Atomic uint32_t arrived;	/* ranks in the current barrier */
	_Atomic uint32_t gen;		/* bumped when a barrier opens (futex word) */
};

struct simpler_comm {
	char *base;
	uint64_t len, window;
	uint32_t nranks;
	char name[64];
};

/* for tests (not exported): domains created and destroyed in this process */
_Atomic unsigned long sx_sim_comm_created, sx_sim_comm_destroyed;

struct simpler_chip {
	int index;
	const struct simpler_comm *comm;	/* attached domain: its windows are ours to use */
	uint64_t copy_delay_us;		/* fault injection: per MiB copied out (see sim_copy_from) */
	bool fail_to, fail_from;	/* fault injection: copies in or out fail */
	char *base;
	uint64_t size;
	bool staging;
	pthread_mutex_t mem_lock;	/* protects mem */
	struct extalloc mem;

	/* core pool */
	uint32_t ncores;
	pthread_t *cores;
	struct ec work_ec;		/* core threads wait here for a launch */
	struct ec done_ec;		/* the launcher waits here for the blocks */
	_Atomic(struct sim_launch *) current;
	_Atomic uint32_t launch_seq;	/* bumped per multi-block launch */
	_Atomic uint32_t inside;	/* core threads that may be touching current */
	_Atomic bool stop;
	uint64_t spin_ns;
	pthread_mutex_t launch_lock;	/* one launch at a time per chip */
};

/* ---- memory ---- */

static unsigned sim_caps(const struct simpler_platform_cfg *cfg)
{
	return cfg->staging ? 0 : SIMPLER_PLAT_HOST_DIRECT;
}

static int sim_mem_alloc(struct simpler_chip *c, size_t n, uint64_t *addr, char *err,
			 size_t errlen)
{
	int ret;

	if (!n) {
		snprintf(err, errlen, "cannot allocate 0 bytes");
		return -EINVAL;
	}
	pthread_mutex_lock(&c->mem_lock);
	ret = sx_extalloc_alloc(&c->mem, n, addr);
	pthread_mutex_unlock(&c->mem_lock);
	if (ret)
		snprintf(err, errlen,
			 "out of chip memory: %zu bytes wanted, %" PRIu64 " of %" PRIu64
			 " bytes in use (raise chip_mem_size or free memory)", n, c->mem.used, c->size);
	return ret;
}

static int sim_mem_free(struct simpler_chip *c, uint64_t addr, char *err, size_t errlen)
{
	const struct extent *e;
	int ret;

	pthread_mutex_lock(&c->mem_lock);
	ret = sx_extalloc_free(&c->mem, addr);
	e = ret ? sx_extalloc_find(&c->mem, addr) : NULL;
	if (e)
		snprintf(err, errlen,
			 "0x%" PRIx64 " is inside the allocation at 0x%" PRIx64
			 ", not its start: pass the address simpler_malloc() returned",
			 addr, e->addr);
	else if (ret && addr >= (uintptr_t)c->base && addr < (uintptr_t)c->base + c->size)
		snprintf(err, errlen, "0x%" PRIx64 " is not a live allocation on this chip "
			 "(already freed?)", addr);
	else if (ret)
		snprintf(err, errlen, "0x%" PRIx64 " was not allocated on this chip", addr);
	pthread_mutex_unlock(&c->mem_lock);
	return ret;
}

/* [addr, addr + n) inside the windows of the chip's comm domain */
static bool in_windows(const struct simpler_chip *c, uint64_t addr, size_t n)
{
	uint64_t lo, hi;

	if (!c->comm)
		return false;
	lo = (uintptr_t)c->comm->base + SIM_COMM_HDR;
	hi = (uintptr_t)c->comm->base + c->comm->len;
	return addr >= lo && addr <= hi && n <= hi - addr;
}

/* caller holds mem_lock */
static int sim_check_locked(struct simpler_chip *c, uint64_t addr, size_t n, char *err,
			    size_t errlen)
{
	const struct extent *e = sx_extalloc_find(&c->mem, addr);

	if (!e && in_windows(c, addr, n))
		return 0;
	if (!e) {
		snprintf(err, errlen, "0x%" PRIx64 " is not inside a live allocation on this chip",
			 addr);
		return -EFAULT;
	}
	if (n > e->size - (addr - e->addr)) {
		snprintf(err, errlen,
			 "%zu bytes at 0x%" PRIx64 " overrun the allocation at 0x%" PRIx64
			 " (%" PRIu64 " bytes)", n, addr, e->addr, e->size);
		return -EFAULT;
	}
	return 0;
}

static int sim_mem_check(struct simpler_chip *c, uint64_t addr, size_t n, char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&c->mem_lock);
	ret = sim_check_locked(c, addr, n, err, errlen);
	pthread_mutex_unlock(&c->mem_lock);
	return ret;
}

static int sim_copy_to(struct simpler_chip *c, uint64_t dst, const void *src, size_t n,
		       char *err, size_t errlen)
{
	int ret = sim_mem_check(c, dst, n, err, errlen);

	if (!ret && c->fail_to) {
		snprintf(err, errlen, "copy to the chip failed (SIMPLER_SIM_FAIL_COPY=to)");
		return -EIO;
	}
	if (!ret)
		memcpy((void *)(uintptr_t)dst, src, n);
	return ret;
}

static int sim_copy_from(struct simpler_chip *c, void *dst, uint64_t src, size_t n, char *err,
			 size_t errlen)
{
	int ret = sim_mem_check(c, src, n, err, errlen);
	struct timespec ts = { (time_t)(c->copy_delay_us / 1000000),
			       (long)(c->copy_delay_us % 1000000) * 1000 };
	size_t off, k;

	if (ret)
		return ret;
	if (c->fail_from) {
		snprintf(err, errlen, "copy from the chip failed (SIMPLER_SIM_FAIL_COPY=from)");
		return -EIO;
	}
	if (!c->copy_delay_us) {
		memcpy(dst, (const void *)(uintptr_t)src, n);
		return 0;
	}
	/* a slow device: a MiB at a time, a pause after each */
	for (off = 0; off < n; off += k) {
		k = n - off < (1U << 20) ? n - off : (1U << 20);
		memcpy((char *)dst + off, (const char *)(uintptr_t)src + off, k);
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* ---- launches ---- */

/* run blocks of l until none is left */
static void sim_run_blocks(struct sim_launch *l)
{
	struct simpler_kernel_args a = *l->args;
	uint32_t b;
	int ret, expected;

	while ((b = atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed)) <
	       a.block_dim) {
		a.block_idx = b;
		ret = l->fn(&a);
		if (ret) {
			expected = 0;
			/* relaxed: the release add to done below publishes both */
			if (atomic_compare_exchange_strong_explicit(&l->err, &expected,
								    ret < 0 ? ret : -EIO,
								    memory_order_relaxed,
								    memory_order_relaxed))
				atomic_store_explicit(&l->failed_block, b, memory_order_relaxed);
		}
		/* pairs with the launcher's acquire load of done */
		atomic_fetch_add_explicit(&l->done, 1, memory_order_release);
	}
}

static void *sim_core_main(void *arg)
{
	struct simpler_chip *c = arg;
	struct sim_launch *l;
	uint32_t seen = 0;

	/*
	 * The acquire loads pair with the launcher's release stores of current
	 * and then launch_seq (and with the release store of stop at close).
	 */
	for (;;) {
		EC_WAIT_UNTIL(&c->work_ec, c->spin_ns,
			      atomic_load_explicit(&c->stop, memory_order_acquire) ||
			      atomic_load_explicit(&c->launch_seq, memory_order_acquire) != seen);
		if (atomic_load_explicit(&c->stop, memory_order_acquire))
			return NULL;
		seen = atomic_load_explicit(&c->launch_seq, memory_order_acquire);
		/* announce before looking: the launcher waits for us to leave */
		atomic_fetch_add_explicit(&c->inside, 1, memory_order_seq_cst);
		l = atomic_load_explicit(&c->current, memory_order_seq_cst);
		if (l)
			sim_run_blocks(l);
		atomic_fetch_sub_explicit(&c->inside, 1, memory_order_release);
		ec_notify(&c->done_ec);
	}
}

/* bytes from tensor i's first element to the end of its last (no strides: a plain tensor) */
static uint64_t arg_span(const struct simpler_kernel_args *a, uint32_t i)
{
	return sx_arg_span(&a->tensors[i], a->strides ? &a->strides[i * SIMPLER_MAX_DIMS] : NULL);
}

/* in staging mode every tensor must be chip memory; child tensors always must */
static int sim_check_tensors(struct simpler_chip *c, const struct simpler_kernel_args *a,
			     char *err, size_t errlen)
{
	char why[160];
	uint32_t i;
	int ret = 0;

	pthread_mutex_lock(&c->mem_lock);
	for (i = 0; i < a->nr_tensors && !ret; i++) {
		const struct simpler_tensor *t = &a->tensors[i];

		if (!c->staging && !t->child_memory)
			continue;
		ret = sim_check_locked(c, t->addr, arg_span(a, i), why, sizeof(why));
		if (ret)
			snprintf(err, errlen, "tensor %u: %s%s", i, why,
				 t->child_memory ? "" :
				 " (a discrete chip cannot read host memory)");
	}
	pthread_mutex_unlock(&c->mem_lock);
	return ret;
}

static int sim_launch(struct simpler_chip *c, simpler_kernel_fn fn,
		      const struct simpler_kernel_args *args, uint32_t *failed_block)
{
	struct sim_launch l = { .fn = fn, .args = args };
	int ret;

	if (args->block_dim <= 1 || c->ncores == 0) {
		/* the common case runs right here, no hand-off */
		struct simpler_kernel_args a = *args;

		a.block_dim = a.block_dim ? a.block_dim : 1;
		for (a.block_idx = 0; a.block_idx < a.block_dim; a.block_idx++) {
			ret = fn(&a);
			if (ret) {
				*failed_block = a.block_idx;
				return ret < 0 ? ret : -EIO;
			}
		}
		return 0;
	}
	pthread_mutex_lock(&c->launch_lock);
	/* release: l, then the sequence the core threads wait on (sim_core_main()) */
	atomic_store_explicit(&c->current, &l, memory_order_release);
	atomic_fetch_add_explicit(&c->launch_seq, 1, memory_order_release);
	ec_notify(&c->work_ec);
	sim_run_blocks(&l);
	EC_WAIT_UNTIL(&c->done_ec, c->spin_ns,
		      atomic_load_explicit(&l.done, memory_order_acquire) == args->block_dim);
	/*
	 * l lives on this stack: no core thread may still hold it when we
	 * return.  seq_cst store, then the load of inside: a Dekker pair with
	 * the core thread's seq_cst add to inside, then load of current.
	 */
	atomic_store_explicit(&c->current, NULL, memory_order_seq_cst);
	for (unsigned n = 1; atomic_load_explicit(&c->inside, memory_order_acquire); n++) {
		if (n % 1024 == 0)
			sched_yield();	/* a core thread was preempted on its way out */
		else
			cpu_relax();
	}
	pthread_mutex_unlock(&c->launch_lock);
	/* relaxed: ordered by the acquire loads of done that ended the wait */
	ret = atomic_load_explicit(&l.err, memory_order_relaxed);
	if (ret)
		*failed_block = atomic_load_explicit(&l.failed_block, memory_order_relaxed);
	return ret;
}

/* the launch entry point checks arguments first (staging, child memory) */
static int sim_launch_checked(struct simpler_chip *c, simpler_kernel_fn fn,
			      const struct simpler_kernel_args *args, uint32_t *failed_block,
			      char *err, size_t errlen)
{
	int ret;
	uint32_t i;

	for (i = 0; i < args->nr_tensors; i++)
		if (c->staging || args->tensors[i].child_memory)
			break;
	if (i < args->nr_tensors) {
		ret = sim_check_tensors(c, args, err, errlen);
		if (ret) {
			*failed_block = UINT32_MAX;
			return ret;
		}
	}
	return sim_launch(c, fn, args, failed_block);
}

/* ---- open / close ---- */

static void sim_chip_close(struct simpler_chip *c)
{
	uint32_t i;

	if (!c)
		return;
	/* release: pairs with the core threads' acquire loads of stop */
	atomic_store_explicit(&c->stop, true, memory_order_release);
	ec_notify(&c->work_ec);
	for (i = 0; i < c->ncores; i++)
		pthread_join(c->cores[i], NULL);
	free(c->cores);
	if (c->base)
		munmap(c->base, c->size);
	sx_extalloc_fini(&c->mem);
	pthread_mutex_destroy(&c->mem_lock);
	pthread_mutex_destroy(&c->launch_lock);
	free(c);
}

static int sim_chip_open(const struct simpler_platform_cfg *cfg, int index,
			 struct simpler_chip **chip, char *err, size_t errlen)
{
	struct simpler_chip *c = calloc(1, sizeof(*c));
	void *hint;
	uint32_t i;
	int ret;

	*chip = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->index = index;
	/*
	 * Fault injection for tests: SIMPLER_SIM_COPY_DELAY_US pauses copies out
	 * of the chip after every MiB; SIMPLER_SIM_FAIL_COPY=to|from fails them.
	 */
	if (getenv("SIMPLER_SIM_COPY_DELAY_US"))
		c->copy_delay_us = strtoull(getenv("SIMPLER_SIM_COPY_DELAY_US"), NULL, 10);
	if (getenv("SIMPLER_SIM_FAIL_COPY")) {
		c->fail_to = !strcmp(getenv("SIMPLER_SIM_FAIL_COPY"), "to");
		c->fail_from = !strcmp(getenv("SIMPLER_SIM_FAIL_COPY"), "from");
	}
	c->size = cfg->mem_size;
	c->staging = cfg->staging;
	c->spin_ns = (uint64_t)cfg->spin_us * 1000;
	pthread_mutex_init(&c->mem_lock, NULL);
	pthread_mutex_init(&c->launch_lock, NULL);
	ec_init(&c->work_ec, false);
	ec_init(&c->done_ec, false);
	/*
	 * Reserved, committed on first touch.  Each chip asks for a 16 GiB
	 * slot of its own (below where the kernel places mappings, and where
	 * ThreadSanitizer allows them), so chip addresses differ between chips
	 * even when each chip is a process of its own: a free or a copy on the
	 * wrong chip is recognised, not misapplied.  Only a hint.
	 */
	hint = c->size <= SIM_SLOT ? (void *)(uintptr_t)(SIM_BASE + (uint64_t)index * SIM_SLOT) :
				     NULL;
	c->base = mmap(hint,
		       c->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->base == MAP_FAILED) {
		c->base = NULL;
		ret = -errno;
		snprintf(err, errlen, "cannot reserve %" PRIu64 " bytes of chip memory: %s",
			 c->size, strerror(-ret));
		goto fail;
	}
	ret = sx_extalloc_init(&c->mem, (uintptr_t)c->base, c->size, SIM_ALIGN);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* block 0 runs on the launcher, so cores - 1 helpers */
	c->ncores = cfg->cores > 1 ? cfg->cores - 1 : 0;
	c->cores = calloc(c->ncores ? c->ncores : 1, sizeof(*c->cores));
	if (!c->cores) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < c->ncores; i++) {
		ret = -pthread_create(&c->cores[i], NULL, sim_core_main, c);
		if (ret) {
			c->ncores = i;
			snprintf(err, errlen, "cannot start core thread %u: %s", i, strerror(-ret));
			goto fail;
		}
	}
	*chip = c;
	return 0;
fail:
	sim_chip_close(c);
	return ret;
}

/* ---- comm ---- */

static uint64_t sim_comm_window_size(uint64_t window_size)
{
	if (!window_size || window_size > SIM_COMM_MAX)
		return 0;
	return (window_size + SIM_COMM_ALIGN - 1) / SIM_COMM_ALIGN * SIM_COMM_ALIGN;
}

static int sim_comm_create(const char *domain, uint32_t nranks, uint64_t window_size,
			   struct simpler_comm **comm, char *err, size_t errlen)
{
	struct simpler_comm *m = calloc(1, sizeof(*m));
	char label[80];
	int fd, ret;

	*comm = NULL;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(m->name, sizeof(m->name), "%s", domain);
	m->nranks = nranks;
	m->window = sim_comm_window_size(window_size);
	if (!m->window || !nranks || nranks > 4096) {
		free(m);
		snprintf(err, errlen, "%u windows of %" PRIu64 " bytes are impossible here",
			 nranks, window_size);
		return -EINVAL;
	}
	m->len = SIM_COMM_HDR + (uint64_t)nranks * m->window;
	snprintf(label, sizeof(label), "simpler-comm-%s", domain);
	fd = memfd_create(label, MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)m->len)) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the shared memory of domain '%s' "
			 "(%" PRIu64 " bytes): %s", domain, m->len, strerror(-ret));
		goto fail;
	}
	/* fresh memfd pages read as zero; the ranks still zero their windows at attach */
	m->base = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		ret = -errno;
		snprintf(err, errlen, "cannot map the shared memory of domain '%s' "
			 "(%" PRIu64 " bytes): %s", domain, m->len, strerror(-ret));
		goto fail;
	}
	close(fd);
	*comm = m;
	atomic_fetch_add_explicit(&sx_sim_comm_created, 1, memory_order_relaxed);	/* a count */
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(m);
	return ret;
}

static uint64_t sim_comm_window(const struct simpler_comm *m, uint32_t rank)
{
	return rank < m->nranks ? (uintptr_t)m->base + SIM_COMM_HDR + rank * m->window : 0;
}

static int sim_comm_attach(struct simpler_chip *c, struct simpler_comm *m, uint32_t rank,
			   int zero, char *err, size_t errlen)
{
	if (rank >= m->nranks) {
		snprintf(err, errlen, "rank %u is outside domain '%s' (%u ranks)", rank, m->name,
			 m->nranks);
		return -EINVAL;
	}
	if (zero)
		memset((void *)(uintptr_t)sim_comm_window(m, rank), 0, m->window);
	c->comm = m;
	return 0;
}

static int sim_comm_barrier(struct simpler_comm *m, uint32_t timeout_ms, char *err, size_t errlen)
{
	struct sim_comm_hdr *h = (struct sim_comm_hdr *)m->base;
	/* acquire loads of gen pair with the last arrival's release add: all writes before it */
	uint32_t gen = atomic_load_explicit(&h->gen, memory_order_acquire);
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000, now;
	struct timespec ts;

	if (atomic_fetch_add_explicit(&h->arrived, 1, memory_order_acq_rel) + 1 == m->nranks) {
		/* the last one in opens it for everyone */
		atomic_store_explicit(&h->arrived, 0, memory_order_relaxed);
		atomic_fetch_add_explicit(&h->gen, 1, memory_order_release);
		futex_wake(&h->gen, INT_MAX, true);
		return 0;
	}
	while (atomic_load_explicit(&h->gen, memory_order_acquire) == gen) {
		now = now_ns();
		if (now >= deadline) {
			snprintf(err, errlen, "barrier of comm domain '%s' timed out after %u ms "
				 "(%u of %u ranks arrived)", m->name, timeout_ms,
				 atomic_load_explicit(&h->arrived, memory_order_relaxed), m->nranks);
			return -ETIMEDOUT;
		}
		ts.tv_sec = (time_t)((deadline - now) / 1000000000ULL);
		ts.tv_nsec = (long)((deadline - now) % 1000000000ULL);
		futex_wait(&h->gen, gen, true, &ts);
	}
	return 0;
}

static void sim_comm_destroy(struct simpler_comm **comm)
{
	struct simpler_comm *m = *comm;

	if (!m)
		return;
	munmap(m->base, m->len);
	free(m);
	*comm = NULL;
	atomic_fetch_add_explicit(&sx_sim_comm_destroyed, 1, memory_order_relaxed);	/* a count */
}

const struct simpler_platform_ops sx_platform_sim = {
	.name = "sim",
	.caps = sim_caps,
	.chip_open = sim_chip_open,
	.chip_close = sim_chip_close,
	.mem_alloc = sim_mem_alloc,
	.mem_free = sim_mem_free,
	.copy_to = sim_copy_to,
	.copy_from = sim_copy_from,
	.mem_check = sim_mem_check,
	.launch = sim_launch_checked,
	.comm_window_size = sim_comm_window_size,
	.comm_create = sim_comm_create,
	.comm_window = sim_comm_window,
	.comm_attach = sim_comm_attach,
	.comm_barrier = sim_comm_barrier,
	.comm_destroy = sim_comm_destroy,
};
