// SPDX-License-Identifier: MIT
/*
 * Host memory the chip and sub processes can use (see hostmem.h): the
 * registered-buffer table, the submit-time check with a per-run cache of
 * ranges found visible, and the public calls.  What differs between
 * simpler.ko and the shm fallback is behind struct hm_ops (hm_kmod.c,
 * hm_shm.c); thread mode has no backend, every address being visible.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/kmod.h"
#include "base/vec.h"
#include "hm.h"
#include "hostmem.h"
#include "worker.h"

const char *sx_hostmem_name(const struct simpler_worker *w)
{
	return w->hm->ops ? w->hm->ops->name : "threads";
}

int sx_hostmem_init(struct simpler_worker *w, unsigned want, uint64_t mirror_size)
{
	struct hostmem *h = calloc(1, sizeof(*h));
	char why[256];
	int fd = -1;

	if (!h)
		return werr(w, -ENOMEM, "out of memory");
	w->hm = h;
	h->fd = -1;
	h->cur_run = UINT64_MAX;
	if (w->flags & SIMPLER_WORKER_THREADS)
		return 0;
	if (want != SIMPLER_HOSTMEM_SHM) {
		fd = sx_kmod_open(why, sizeof(why));
		if (fd < 0 && want == SIMPLER_HOSTMEM_KMOD)
			return werr(w, fd, "hostmem=kmod: %s", why);
	}
	if (fd >= 0)
		return sx_hm_kmod_init(w, h, fd);
	return sx_hm_shm_init(w, h, mirror_size);
}

void sx_hostmem_fini(struct simpler_worker *w)
{
	struct hostmem *h = w->hm;
	size_t i;

	if (!h)
		return;
	if (h->ops)
		h->ops->fini(h);
	for (i = 0; i < h->n; i++) {
		sx_rangeset_free(&h->v[i].valid);
		sx_rangeset_free(&h->v[i].dirty);
	}
	free(h->v);
	sx_rangeset_free(&h->ok);
	sx_rangeset_free(&h->writable);
	sx_mapsnap_free(&h->cur);
	free(h);
	w->hm = NULL;
}

int sx_hostmem_prefork(struct simpler_worker *w, int slot, int same_as)
{
	struct hostmem *h = w->hm;

	return h->ops && h->ops->prefork ? h->ops->prefork(h, slot, same_as) : 0;
}

int sx_hostmem_child_fd(const struct simpler_worker *w)
{
	return w->hm->fd;	/* -1 but with simpler.ko */
}

/* ---- the registered-buffer table ---- */

/* the buffer containing a, or NULL */
static struct hbuf *hb_find(struct hostmem *h, uint64_t a)
{
	size_t i = FIRST_ABOVE(h->v, h->n, addr, a);

	if (i && a - h->v[i - 1].addr < h->v[i - 1].len)
		return &h->v[i - 1];
	return NULL;
}

SIMPLER_API int simpler_host_register(struct simpler_worker *w, void *addr, size_t len,
				      unsigned flags, uint64_t *handle)
{
	uint64_t a = (uintptr_t)addr;
	struct hostmem *h;
	struct hbuf b;
	size_t i;
	int ret = 0;

	if (!w)
		return werr(NULL, -EINVAL, "host_register: NULL worker");
	if (w->nodes)
		return werr(w, -EOPNOTSUPP, "host_register: an L4 worker's nodes see the host "
			    "memory they inherit (shared memory mapped before simpler_worker_create(), "
			    "simpler_orch_alloc()) but not registered buffers yet");
	h = w->hm;
	if (!addr || !len || a + len < a)
		return werr(w, -EINVAL, "host_register: need a non-NULL address and a length > 0");
	if (flags)
		return werr(w, -EINVAL, "host_register: unknown flags 0x%x", flags);
	memset(&b, 0, sizeof(b));
	b.addr = a;
	b.len = len;
	pthread_mutex_lock(&w->mem_lock);
	i = FIRST_ABOVE(h->v, h->n, addr, a);
	if ((i && h->v[i - 1].addr + h->v[i - 1].len > a) || (i < h->n && h->v[i].addr < a + len)) {
		struct hbuf *o = (i && h->v[i - 1].addr + h->v[i - 1].len > a) ? &h->v[i - 1] :
								&h->v[i];

		ret = werr(w, -EEXIST, "host_register: %p (%zu bytes) overlaps the buffer at 0x%"
			   PRIx64 " registered as handle %" PRIu64 ": unregister it first", addr,
			   len, o->addr, o->handle);
		goto out;
	}
	if (VEC_ROOM(h->v, h->n, h->cap, 16)) {
		ret = werr(w, -ENOMEM, "host_register: out of memory");
		goto out;
	}
	if (h->ops) {
		ret = h->ops->reg(w, &b);
		if (ret)
			goto out;
	}
	b.handle = ++h->next_handle;
	memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof(*h->v));
	h->v[i] = b;
	h->n++;
	if (handle)
		*handle = b.handle;
out:
	pthread_mutex_unlock(&w->mem_lock);
	return ret;
}

SIMPLER_API int simpler_host_unregister(struct simpler_worker *w, uint64_t handle)
{
	struct hostmem *h;
	struct hbuf b;
	size_t i;

	if (!w)
		return werr(NULL, -EINVAL, "host_unregister: NULL worker");
	h = w->hm;
	pthread_mutex_lock(&w->mem_lock);
	for (i = 0; i < h->n && h->v[i].handle != handle; i++)
		;
	if (i == h->n) {
		pthread_mutex_unlock(&w->mem_lock);
		return werr(w, -ENOENT, "host_unregister: no buffer has handle %" PRIu64, handle);
	}
	b = h->v[i];
	if (hb_busy(w, &b)) {
		pthread_mutex_unlock(&w->mem_lock);
		return werr(w, -EBUSY, "host_unregister: buffer %" PRIu64 " is used by the run in "
			    "progress: unregister it after simpler_run() returns", handle);
	}
	memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof(*h->v));
	h->n--;
	if (h->ops && h->ops->unreg_locked)
		h->ops->unreg_locked(h, &b);
	pthread_mutex_unlock(&w->mem_lock);
	return h->ops ? h->ops->unreg(w, &b) : 0;
}

/* ---- visibility ---- */

static const char *verdict_text(unsigned v)
{
	switch (v) {
	case SIMPLER_VIS_PRIVATE:
		return "is private memory the chip processes only hold a stale copy-on-write "
		       "snapshot of";
	case SIMPLER_VIS_MISMATCH:
		return "is mapped to another object than the chip processes have at that address";
	case SIMPLER_VIS_REGISTERED:
		return "shares pages with a registered buffer but is not inside one";
	default:
		return "was allocated after the chip processes started and is not registered";
	}
}

/* 0 if the processes can use [a, a + len) as it is; else the verdict */
static unsigned inherited(struct simpler_worker *w, uint64_t a, uint64_t len)
{
	struct hostmem *h = w->hm;
	uint64_t lo, hi;
	unsigned v;
	int bad;

	if (sx_arena_contains(w->arena, (const void *)(uintptr_t)a, len) ||
	    sx_rangeset_covers(&h->ok, a, a + len))
		return 0;
	/*
	 * REGISTERED is not enough: pages registered for a neighbouring buffer
	 * reach a child only through that buffer's handle, which this range
	 * does not carry.
	 */
	v = h->ops->verdict(w, a, len, &bad, &lo, &hi);
	if (v == SIMPLER_VIS_SHARED) {
		sx_rangeset_add(&h->ok, lo, hi);	/* only a cache: a failure costs a re-check */
		return 0;
	}
	return v;
}

int sx_hostmem_check_write(struct simpler_worker *w, uint64_t a, uint64_t len, unsigned acc,
			   uint32_t idx)
{
	static const char *const names[] = { "IN", "OUT", "INOUT", "OUT_EXISTING", "NO_DEP" };
	struct hostmem *h = w->hm;
	uint64_t lo, hi;
	bool ok;
	int ret;

	/* most writes land in the mapping the last check found */
	if (!len || (a >= h->wlo && a + len <= h->whi) ||
	    sx_arena_contains(w->arena, (const void *)(uintptr_t)a, len) ||
	    sx_rangeset_covers(&h->writable, a, a + len))
		return 0;
	/* mem_lock: the maps snapshot is shared with the shm backend's verdicts */
	pthread_mutex_lock(&w->mem_lock);
	ret = sx_hm_cur_maps(h);
	ok = !ret && sx_mapsnap_writable(&h->cur, a, len, &lo, &hi);
	pthread_mutex_unlock(&w->mem_lock);
	if (ret)
		return werr(w, ret, "submit: cannot read /proc/self/maps to check that tensor %u "
			    "may be written: %s", idx, strerror(-ret));
	if (ok) {
		sx_rangeset_add(&h->writable, lo, hi);	/* only a cache */
		h->wlo = lo;
		h->whi = hi;
		return 0;
	}
	return werr(w, -EFAULT, "submit: tensor %u at 0x%" PRIx64 " (%" PRIu64 " bytes) is %s "
		    "but not all of it is mapped writable (a PROT_READ mapping, a read-only file "
		    "or shared memory, or a hole): the kernel could not write it; pass it as "
		    "SIMPLER_IN, or map it PROT_READ | PROT_WRITE", idx, a, len, names[acc]);
}

int sx_hostmem_submit(struct simpler_worker *w, uint64_t a, uint64_t len, bool gaps,
		      unsigned acc, uint32_t idx, uint64_t *reg)
{
	struct hostmem *h = w->hm;
	struct hbuf *b;
	unsigned v;
	int ret = 0;

	*reg = 0;
	/*
	 * The backend handles the span: the bytes between a view's runs must
	 * come in too, or the shm backend would copy back, over them, what its
	 * mirror held there.
	 */
	if (acc == SIMPLER_OUT && gaps)
		acc = SIMPLER_INOUT;
	/* runtime-owned memory: inherited by construction (the arena is the orchestrator's) */
	if (!h->ops || !len || sx_arena_contains(w->arena, (const void *)(uintptr_t)a, len))
		return 0;
	pthread_mutex_lock(&w->mem_lock);
	b = hb_find(h, a);
	if (b) {
		if (len > b->len - (a - b->addr))
			ret = werr(w, -EFAULT, "submit: tensor %u at 0x%" PRIx64 " (%" PRIu64
				   " bytes) runs %" PRIu64 " bytes past the end of the registered "
				   "buffer at 0x%" PRIx64 " (%" PRIu64 " bytes, handle %" PRIu64 ")",
				   idx, a, len, a + len - b->addr - b->len, b->addr, b->len,
				   b->handle);
		else
			ret = h->ops->use(w, b, a - b->addr, len, acc, reg);
		pthread_mutex_unlock(&w->mem_lock);
		return ret;
	}
	v = inherited(w, a, len);
	pthread_mutex_unlock(&w->mem_lock);
	if (v)
		return werr(w, -EFAULT, "submit: tensor %u at 0x%" PRIx64 " (%" PRIu64 " bytes) %s: "
			    "call simpler_host_register() on it, or allocate it before "
			    "simpler_worker_create() in shared memory (MAP_SHARED, memfd, "
			    "simpler_orch_alloc)", idx, a, len, verdict_text(v));
	return 0;
}

SIMPLER_API int simpler_host_check(struct simpler_worker *w, const void *addr, size_t len)
{
	uint64_t a = (uintptr_t)addr;
	struct hbuf *b;
	unsigned v;

	if (!w)
		return werr(NULL, -EINVAL, "host_check: NULL worker");
	if (!addr || !len || a + len < a)
		return werr(w, -EINVAL, "host_check: need a non-NULL address and a length > 0");
	if (!w->hm->ops)
		return 0;	/* threads share the application's address space */
	pthread_mutex_lock(&w->mem_lock);
	if (!atomic_load_explicit(&w->running, memory_order_acquire)) {
		/* between runs the application may remap anything: look afresh */
		rangeset_clear(&w->hm->ok);
		w->hm->cur_run = UINT64_MAX;
	}
	b = hb_find(w->hm, a);
	if (b && len <= b->len - (a - b->addr)) {
		pthread_mutex_unlock(&w->mem_lock);
		return 0;
	}
	v = b ? SIMPLER_VIS_UNMAPPED : inherited(w, a, len);
	pthread_mutex_unlock(&w->mem_lock);
	if (b)
		return werr(w, -EFAULT, "host_check: %p (%zu bytes) runs past the end of the "
			    "registered buffer at 0x%" PRIx64 " (%" PRIu64 " bytes)", addr, len,
			    b->addr, b->len);
	if (v)
		return werr(w, -EFAULT, "host_check: %p (%zu bytes) %s: call "
			    "simpler_host_register() on it, or allocate it before "
			    "simpler_worker_create() in shared memory (MAP_SHARED, memfd, "
			    "simpler_orch_alloc)", addr, len, verdict_text(v));
	return 0;
}

void sx_hostmem_run_begin(struct simpler_worker *w)
{
	struct hostmem *h = w->hm;

	pthread_mutex_lock(&w->mem_lock);
	h->run++;
	/* re-check inherited memory and write access once per run: they may have changed */
	rangeset_clear(&h->ok);
	rangeset_clear(&h->writable);
	h->wlo = h->whi = 0;
	pthread_mutex_unlock(&w->mem_lock);
}

void sx_hostmem_run_end(struct simpler_worker *w)
{
	struct hostmem *h = w->hm;

	if (!h->ops || !h->ops->run_end)
		return;
	pthread_mutex_lock(&w->mem_lock);
	h->ops->run_end(w);
	pthread_mutex_unlock(&w->mem_lock);
}
