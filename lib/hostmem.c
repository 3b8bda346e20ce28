// SPDX-License-Identifier: MIT
/*
 * Host-memory backends (see hostmem.h): the registered-buffer table, the
 * submit-time visibility check with a per-run cache of ranges found
 * visible, the shm mirrors and their copies, the kmod registrations and the
 * children's lazy mappings of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/extalloc.h"
#include "hostmem.h"
#include "proc.h"
#include "worker.h"
#include "base/kmod.h"
#include "mailbox.h"
#include "base/mapsnap.h"
#include "base/rangeset.h"
#include "base/vec.h"

struct hbuf {
	uint64_t addr, len, handle;	/* the application's view */
	uint64_t kh, klo, khi;		/* kmod: the pinned pages [klo, khi), maybe shared */
	uint64_t used_run;		/* the last run a task used it in */
	/* shm, offsets into the buffer, for used_run: */
	uint64_t mirror;		/* where the chips see it */
	struct rangeset valid;		/* the mirror holds the run's data there */
	struct rangeset dirty;		/* tasks write there: copied back at the end */
};

struct hostmem {
	int kind;
	int fd;				/* kmod */
	void *sentinel;
	struct hbuf *v;			/* registered buffers, sorted by addr */
	size_t n, cap;
	uint64_t next_handle;
	uint64_t run;			/* bumped per run */
	uint64_t cur_run;		/* shm: the run cur was read in */
	struct rangeset ok;		/* ranges found visible during this run */
	/* shm */
	void *mirror_base;
	uint64_t mirror_size;
	struct extalloc mirror;
	struct mapsnap *snaps[2 * MAX_EXECS];	/* what each child slot inherited */
	struct mapsnap cur;
};

const char *sx_hostmem_name(const struct simpler_worker *w)
{
	static const char *const names[] = { "threads", "kmod", "shm" };

	return names[w->hm->kind];
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
	if (w->flags & SIMPLER_WORKER_THREADS) {
		h->kind = HM_THREADS;
		return 0;
	}
	if (want != SIMPLER_HOSTMEM_SHM) {
		fd = sx_kmod_open(why, sizeof(why));
		if (fd < 0 && want == SIMPLER_HOSTMEM_KMOD)
			return werr(w, fd, "hostmem=kmod: %s", why);
	}
	if (fd >= 0) {
		h->kind = HM_KMOD;
		h->fd = fd;
		/* children forked while this is mapped become the domain's members */
		h->sentinel = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd,
				   SIMPLER_SENTINEL_OFFSET);
		if (h->sentinel == MAP_FAILED) {
			h->sentinel = NULL;
			return werr(w, -errno, "cannot map the /dev/simpler sentinel page: %s",
				    strerror(errno));
		}
		return 0;
	}
	h->kind = HM_SHM;
	h->mirror_size = mirror_size;
	h->mirror_base = mmap(NULL, mirror_size, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h->mirror_base == MAP_FAILED) {
		h->mirror_base = NULL;
		return werr(w, -ENOMEM, "cannot reserve %" PRIu64 " bytes for host buffer "
			    "mirrors (shm_mirror_size)", mirror_size);
	}
	if (sx_extalloc_init(&h->mirror, (uintptr_t)h->mirror_base, mirror_size,
			  (uint64_t)sysconf(_SC_PAGESIZE)))
		return werr(w, -ENOMEM, "out of memory");
	return 0;
}

void sx_hostmem_fini(struct simpler_worker *w)
{
	struct hostmem *h = w->hm;
	size_t i, k;

	if (!h)
		return;
	/* closing the fd below unregisters every buffer the application left */
	if (h->sentinel)
		munmap(h->sentinel, (size_t)sysconf(_SC_PAGESIZE));
	if (h->fd >= 0)
		close(h->fd);
	if (h->mirror_base) {
		sx_extalloc_fini(&h->mirror);
		munmap(h->mirror_base, h->mirror_size);
	}
	/* slots may share one snapshot: free each once */
	for (i = 0; i < 2 * MAX_EXECS; i++) {
		if (!h->snaps[i])
			continue;
		for (k = i + 1; k < 2 * MAX_EXECS; k++)
			if (h->snaps[k] == h->snaps[i])
				h->snaps[k] = NULL;
		sx_mapsnap_free(h->snaps[i]);
		free(h->snaps[i]);
	}
	sx_mapsnap_free(&h->cur);
	for (i = 0; i < h->n; i++) {
		sx_rangeset_free(&h->v[i].valid);
		sx_rangeset_free(&h->v[i].dirty);
	}
	free(h->v);
	sx_rangeset_free(&h->ok);
	free(h);
	w->hm = NULL;
}

int sx_hostmem_prefork(struct simpler_worker *w, int slot, int same_as)
{
	struct hostmem *h = w->hm;
	struct mapsnap *s;
	int i, ret;

	if (h->kind != HM_SHM)
		return 0;
	/* a slot being re-forked drops its old snapshot unless another shares it */
	if (h->snaps[slot]) {
		for (i = 0; i < 2 * MAX_EXECS; i++)
			if (i != slot && h->snaps[i] == h->snaps[slot])
				break;
		if (i == 2 * MAX_EXECS) {
			sx_mapsnap_free(h->snaps[slot]);
			free(h->snaps[slot]);
		}
		h->snaps[slot] = NULL;
	}
	/* forks in a row share one snapshot: nothing is mapped in between */
	if (same_as >= 0 && h->snaps[same_as]) {
		h->snaps[slot] = h->snaps[same_as];
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = sx_mapsnap_take(s, true);
	if (ret) {
		free(s);
		return ret;
	}
	h->snaps[slot] = s;
	return 0;
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

static int kmod_register(struct simpler_worker *w, uint64_t lo, uint64_t hi, uint64_t *kh)
{
	struct simpler_register r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.addr = lo;
	r.len = hi - lo;
	ret = sx_kmod_ioctl(w->hm->fd, SIMPLER_IOC_REGISTER, &r);
	*kh = r.handle;
	return ret;
}

/* the children drop their mappings of kh, then the module unpins it */
static int kmod_unregister(struct simpler_worker *w, uint64_t kh)
{
	struct simpler_unregister u;

	sx_lane_unmap_all(w, kh);
	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	u.handle = kh;
	return sx_kmod_ioctl(w->hm->fd, SIMPLER_IOC_UNREGISTER, &u);
}

/*
 * kmod: pin the pages that hold b ([addr, addr + len)).  Registrations are
 * page ranges and may not overlap, while buffers may share pages: a buffer
 * inside a registered range shares it; one that straddles registered
 * ranges replaces them by their union (children unmap the old ones first,
 * so not while the run in progress uses them).  mem_lock is held.
 */
static int kmod_pages(struct simpler_worker *w, struct hbuf *b, void *addr, size_t len)
{
	struct hostmem *h = w->hm;
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)addr;
	uint64_t lo = a & ~(pg - 1), hi = (a + len + pg - 1) & ~(pg - 1), kh;
	bool grew = true, several = false, exact = false;
	struct hbuf *busy = NULL;
	size_t k, n;
	int ret;

	/* the union of every registration it touches, until nothing more is touched */
	while (grew) {
		grew = false;
		for (k = 0; k < h->n; k++) {
			struct hbuf *o = &h->v[k];

			if (o->klo < hi && lo < o->khi && (o->klo < lo || o->khi > hi)) {
				lo = o->klo < lo ? o->klo : lo;
				hi = o->khi > hi ? o->khi : hi;
				grew = true;
			}
		}
	}
	b->klo = lo;
	b->khi = hi;
	b->kh = 0;
	for (k = 0; k < h->n; k++) {
		struct hbuf *o = &h->v[k];

		if (o->khi <= lo || hi <= o->klo)
			continue;
		several |= b->kh && o->kh != b->kh;
		b->kh = o->kh;
		exact = o->klo == lo && o->khi == hi;
		if (atomic_load_explicit(&w->running, memory_order_acquire) && o->used_run == h->run)
			busy = o;
	}
	/* inside one registration: share it */
	if (b->kh && !several && exact)
		return 0;
	if (busy)
		return werr(w, -EBUSY, "host_register: %p (%zu bytes) shares pages with the buffer "
			    "at 0x%" PRIx64 " (handle %" PRIu64 "), which the run in progress uses: "
			    "register it between runs, or align buffers to pages", addr, len,
			    busy->addr, busy->handle);
	/* a new registration for the union, replacing those it covers */
	for (k = 0; k < h->n; k++) {
		if (h->v[k].klo < hi && lo < h->v[k].khi && h->v[k].kh) {
			kh = h->v[k].kh;
			ret = kmod_unregister(w, kh);
			if (ret)
				return werr(w, ret, "host_register: simpler.ko would not let go of "
					    "registration %" PRIu64 ": %s", kh, strerror(-ret));
			for (n = 0; n < h->n; n++)
				if (h->v[n].kh == kh)
					h->v[n].kh = 0;	/* re-pointed below */
		}
	}
	ret = kmod_register(w, lo, hi, &b->kh);
	if (ret)
		return werr(w, ret, "host_register: simpler.ko refused %p (%zu bytes as pages "
			    "0x%" PRIx64 "..0x%" PRIx64 "): %s%s", addr, len, lo, hi,
			    strerror(-ret), ret == -ENOMEM ? " (RLIMIT_MEMLOCK or the module's "
			    "max_pinned_mb)" : "");
	for (k = 0; k < h->n; k++) {
		if (h->v[k].klo < hi && lo < h->v[k].khi) {
			h->v[k].kh = b->kh;
			h->v[k].klo = lo;
			h->v[k].khi = hi;
		}
	}
	return 0;
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
	if (h->kind == HM_KMOD) {
		/* the module pins whole pages: register the pages that hold the buffer */
		ret = kmod_pages(w, &b, addr, len);
		if (ret)
			goto out;
	} else if (h->kind == HM_SHM) {
		ret = sx_extalloc_alloc(&h->mirror, len, &b.mirror);
		if (ret) {
			ret = werr(w, -ENOMEM, "host_register: no room for a %zu-byte mirror (%"
				   PRIu64 " of %" PRIu64 " bytes in use): raise shm_mirror_size",
				   len, h->mirror.used, h->mirror_size);
			goto out;
		}
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
	int ret = 0;

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
	/* acquire: pairs with the release store that ends a run (orch.c) */
	if (atomic_load_explicit(&w->running, memory_order_acquire) && b.used_run == h->run) {
		pthread_mutex_unlock(&w->mem_lock);
		return werr(w, -EBUSY, "host_unregister: buffer %" PRIu64 " is used by the run in "
			    "progress: unregister it after simpler_run() returns", handle);
	}
	memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof(*h->v));
	h->n--;
	/* pages still shared with another registered buffer stay registered */
	for (i = 0; h->kind == HM_KMOD && i < h->n; i++)
		if (h->v[i].kh == b.kh)
			b.kh = 0;
	pthread_mutex_unlock(&w->mem_lock);

	if (h->kind == HM_KMOD && b.kh) {
		ret = kmod_unregister(w, b.kh);
		if (ret)
			return werr(w, ret, "host_unregister: simpler.ko: %s", strerror(-ret));
	}
	if (h->kind == HM_SHM) {
		sx_rangeset_free(&b.valid);
		sx_rangeset_free(&b.dirty);
		/* give the mirror's pages back now, not when the arena is reused */
		madvise((void *)(uintptr_t)b.mirror, b.len, MADV_REMOVE);
		sx_extalloc_free(&h->mirror, b.mirror);
	}
	return ret;
}

/* ---- visibility ---- */

/*
 * The verdict for inherited memory: QUERY, or the maps snapshots (the
 * application's own maps read once per run).  [*lo, *hi) gets the range
 * the verdict holds for, at least [a, a + len).
 */
static unsigned verdict(struct simpler_worker *w, uint64_t a, uint64_t len, int *bad,
			uint64_t *lo, uint64_t *hi)
{
	struct hostmem *h = w->hm;
	const struct mapsnap *m[2 * MAX_EXECS];
	struct simpler_query q;
	int i, n = 0;

	*bad = -1;
	*lo = a;
	*hi = a + len;
	if (h->kind == HM_KMOD) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.addr = a;
		q.len = len;
		if (sx_kmod_ioctl(h->fd, SIMPLER_IOC_QUERY, &q))
			return SIMPLER_VIS_UNMAPPED;
		*bad = (int)q.member_pid;
		return q.verdict;
	}
	for (i = 0; i < 2 * MAX_EXECS; i++)
		if (h->snaps[i] && sx_lane_alive(w, i))
			m[n++] = h->snaps[i];
	if (h->cur_run != h->run) {
		if (sx_mapsnap_take(&h->cur, false))
			return SIMPLER_VIS_UNMAPPED;
		h->cur_run = h->run;
	}
	return sx_mapsnap_verdict(&h->cur, m, n, a, len, bad, lo, hi);
}

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
	v = verdict(w, a, len, &bad, &lo, &hi);
	if (v == SIMPLER_VIS_SHARED) {
		sx_rangeset_add(&h->ok, lo, hi);	/* only a cache: a failure costs a re-check */
		return 0;
	}
	return v;
}

struct copy_in {
	struct hbuf *b;
	uint64_t bytes;
};

static void copy_in(uint64_t s, uint64_t e, void *arg)
{
	struct copy_in *c = arg;

	memcpy((void *)(uintptr_t)(c->b->mirror + s), (void *)(uintptr_t)(c->b->addr + s), e - s);
	c->bytes += e - s;
}

/*
 * shm: a task of this run uses [s, s + len) of b with acc.  What it may
 * read comes into the mirror unless the mirror already holds the run's
 * data there (copied in for an earlier task, or written by one: that task
 * runs first, the TensorMap orders them); what it may write goes back at
 * the end of the run.  OUT writes every byte, so it needs nothing copied in.
 */
static int mirror_use(struct simpler_worker *w, struct hbuf *b, uint64_t s, uint64_t len,
		      unsigned acc)
{
	struct copy_in c = { b, 0 };

	if (b->used_run != w->hm->run) {
		rangeset_clear(&b->valid);
		rangeset_clear(&b->dirty);
		b->used_run = w->hm->run;
	}
	if (acc != SIMPLER_OUT)
		sx_rangeset_gaps(&b->valid, s, s + len, copy_in, &c);
	STAT_ADD(w->st_host_copied, c.bytes);
	if (sx_rangeset_add(&b->valid, s, s + len) ||
	    (acc != SIMPLER_IN && sx_rangeset_add(&b->dirty, s, s + len)))
		return werr(w, -ENOMEM, "submit: out of memory tracking the mirror of the buffer "
			    "registered as handle %" PRIu64, b->handle);
	return 0;
}

int sx_hostmem_submit(struct simpler_worker *w, const struct simpler_tensor *t, unsigned acc,
		   uint32_t idx, uint64_t *reg)
{
	struct hostmem *h = w->hm;
	uint64_t a = t->addr, len = simpler_tensor_nbytes(t);
	struct hbuf *b;
	unsigned v;
	int ret = 0;

	*reg = 0;
	/* runtime-owned memory: inherited by construction (the arena is the orchestrator's) */
	if (h->kind == HM_THREADS || !len || sx_arena_contains(w->arena, (const void *)(uintptr_t)a, len))
		return 0;
	pthread_mutex_lock(&w->mem_lock);
	b = hb_find(h, a);
	if (b) {
		if (len > b->len - (a - b->addr)) {
			ret = werr(w, -EFAULT, "submit: tensor %u at 0x%" PRIx64 " (%" PRIu64
				   " bytes) runs %" PRIu64 " bytes past the end of the registered "
				   "buffer at 0x%" PRIx64 " (%" PRIu64 " bytes, handle %" PRIu64 ")",
				   idx, a, len, a + len - b->addr - b->len, b->addr, b->len,
				   b->handle);
		} else if (h->kind == HM_KMOD) {
			*reg = b->kh;
			b->used_run = h->run;
		} else {
			ret = mirror_use(w, b, a - b->addr, len, acc);
			/* dependencies follow the application's address; the chip gets the mirror */
			*reg = b->mirror - b->addr;
		}
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
	if (w->hm->kind == HM_THREADS)
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
	rangeset_clear(&h->ok);	/* re-check inherited memory once per run: it may have moved */
	pthread_mutex_unlock(&w->mem_lock);
}

void sx_hostmem_run_end(struct simpler_worker *w)
{
	struct hostmem *h = w->hm;
	size_t i, k;

	if (h->kind != HM_SHM)
		return;
	pthread_mutex_lock(&w->mem_lock);
	for (i = 0; i < h->n; i++) {
		struct hbuf *b = &h->v[i];

		if (b->used_run != h->run)
			continue;
		/* what the run's tasks wrote goes back to the application */
		for (k = 0; k < b->dirty.n; k++) {
			memcpy((void *)(uintptr_t)(b->addr + b->dirty.v[k].s),
			       (void *)(uintptr_t)(b->mirror + b->dirty.v[k].s),
			       b->dirty.v[k].e - b->dirty.v[k].s);
			STAT_ADD(w->st_host_copied, b->dirty.v[k].e - b->dirty.v[k].s);
		}
		rangeset_clear(&b->dirty);
	}
	pthread_mutex_unlock(&w->mem_lock);
}

int sx_hostmem_child_fd(const struct simpler_worker *w)
{
	return w->hm->kind == HM_KMOD ? w->hm->fd : -1;
}
