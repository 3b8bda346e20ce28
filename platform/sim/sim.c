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

#include "../../lib/extalloc.h"
#include "../../lib/sync.h"
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

struct simpler_chip {
	int index;
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
	ret = extalloc_alloc(&c->mem, n, addr);
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
	ret = extalloc_free(&c->mem, addr);
	e = ret ? extalloc_find(&c->mem, addr) : NULL;
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

/* caller holds mem_lock */
static int sim_check_locked(struct simpler_chip *c, uint64_t addr, size_t n, char *err,
			    size_t errlen)
{
	const struct extent *e = extalloc_find(&c->mem, addr);

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

	if (!ret)
		memcpy((void *)(uintptr_t)dst, src, n);
	return ret;
}

static int sim_copy_from(struct simpler_chip *c, void *dst, uint64_t src, size_t n, char *err,
			 size_t errlen)
{
	int ret = sim_mem_check(c, src, n, err, errlen);

	if (!ret)
		memcpy(dst, (const void *)(uintptr_t)src, n);
	return ret;
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
			if (atomic_compare_exchange_strong(&l->err, &expected, ret < 0 ? ret : -EIO))
				atomic_store(&l->failed_block, b);
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
		ret = sim_check_locked(c, t->addr, simpler_tensor_nbytes(t), why, sizeof(why));
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
	atomic_store_explicit(&c->current, &l, memory_order_release);
	atomic_fetch_add_explicit(&c->launch_seq, 1, memory_order_release);
	ec_notify(&c->work_ec);
	sim_run_blocks(&l);
	EC_WAIT_UNTIL(&c->done_ec, c->spin_ns,
		      atomic_load_explicit(&l.done, memory_order_acquire) == args->block_dim);
	/* l lives on this stack: no core thread may still hold it when we return */
	atomic_store_explicit(&c->current, NULL, memory_order_seq_cst);
	for (unsigned n = 1; atomic_load_explicit(&c->inside, memory_order_acquire); n++) {
		if (n % 1024 == 0)
			sched_yield();	/* a core thread was preempted on its way out */
		else
			cpu_relax();
	}
	pthread_mutex_unlock(&c->launch_lock);
	ret = atomic_load(&l.err);
	if (ret)
		*failed_block = atomic_load(&l.failed_block);
	return ret;
}

/* the launch entry point checks arguments first (staging, child memory) */
static int sim_launch_checked(struct simpler_chip *c, simpler_kernel_fn fn,
			      const struct simpler_kernel_args *args, uint32_t *failed_block)
{
	char why[256];
	int ret;
	uint32_t i;

	for (i = 0; i < args->nr_tensors; i++)
		if (c->staging || args->tensors[i].child_memory)
			break;
	if (i < args->nr_tensors) {
		ret = sim_check_tensors(c, args, why, sizeof(why));
		if (ret) {
			*failed_block = UINT32_MAX;
			simpler_kernel_errmsg(args, "%s", why);
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
	atomic_store(&c->stop, true);
	ec_notify(&c->work_ec);
	for (i = 0; i < c->ncores; i++)
		pthread_join(c->cores[i], NULL);
	free(c->cores);
	if (c->base)
		munmap(c->base, c->size);
	extalloc_fini(&c->mem);
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
	ret = extalloc_init(&c->mem, (uintptr_t)c->base, c->size, SIM_ALIGN);
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

const struct simpler_platform_ops simpler_platform_sim = {
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
};
