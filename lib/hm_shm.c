// SPDX-License-Identifier: MIT
/*
 * The shm host-memory backend (see hostmem.h, hm.h), for hosts without
 * simpler.ko: each registered buffer gets a mirror in a shared arena mapped
 * before the fork, and tasks use the mirror.  What a task may read is
 * copied in at submit unless the run already put it there; what tasks
 * wrote is copied back at the end of the run.  Visibility of inherited
 * memory comes from /proc/self/maps snapshots (mapsnap.h): one per child,
 * taken just before its fork, against the application's maps now.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/simpler.h>

#include "hm.h"
#include "lanes.h"
#include "worker.h"

/* drop slot's snapshot, unless another slot shares it */
static void snap_drop(struct hostmem *h, int slot)
{
	int i;

	if (!h->snaps[slot])
		return;
	for (i = 0; i < MAX_PROCS; i++)
		if (i != slot && h->snaps[i] == h->snaps[slot])
			break;
	if (i == MAX_PROCS) {
		sx_mapsnap_free(h->snaps[slot]);
		free(h->snaps[slot]);
	}
	h->snaps[slot] = NULL;
}

static int shm_prefork(struct hostmem *h, int slot, int same_as)
{
	struct mapsnap *s;
	int ret;

	snap_drop(h, slot);
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

static int shm_reg(struct simpler_worker *w, struct hbuf *b)
{
	struct hostmem *h = w->hm;

	if (sx_extalloc_alloc(&h->mirror, b->len, &b->mirror))
		return werr(w, -ENOMEM, "host_register: no room for a %" PRIu64 "-byte mirror "
			    "(%" PRIu64 " of %" PRIu64 " bytes in use): raise shm_mirror_size",
			    b->len, h->mirror.used, h->mirror_size);
	return 0;
}

static int shm_unreg(struct simpler_worker *w, struct hbuf *b)
{
	sx_rangeset_free(&b->valid);
	sx_rangeset_free(&b->dirty);
	/* give the mirror's pages back now, not when the arena is reused */
	madvise((void *)(uintptr_t)b->mirror, b->len, MADV_REMOVE);
	sx_extalloc_free(&w->hm->mirror, b->mirror);
	return 0;
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
 * What the task may read comes into the mirror unless the mirror already
 * holds the run's data there (copied in for an earlier task, or written by
 * one: that task runs first, the TensorMap orders them); what it may write
 * goes back at the end of the run.  OUT writes every byte, so it needs
 * nothing copied in.  The frame carries the distance to the mirror: the
 * child adds it (dependencies follow the application's address).
 */
static int shm_use(struct simpler_worker *w, struct hbuf *b, uint64_t s, uint64_t len,
		   unsigned acc, uint64_t *reg)
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
	*reg = b->mirror - b->addr;
	return 0;
}

/* the maps snapshots of the live children, against the application's maps read once a run */
static unsigned shm_verdict(struct simpler_worker *w, uint64_t a, uint64_t len, int *bad,
			    uint64_t *lo, uint64_t *hi)
{
	struct hostmem *h = w->hm;
	const struct mapsnap *m[MAX_PROCS];
	int i, n = 0;

	*bad = -1;
	*lo = a;
	*hi = a + len;
	for (i = 0; i < MAX_PROCS; i++)
		if (h->snaps[i] && sx_lane_alive(w, i))
			m[n++] = h->snaps[i];
	if (sx_hm_cur_maps(h))
		return SIMPLER_VIS_UNMAPPED;
	return sx_mapsnap_verdict(&h->cur, m, n, a, len, bad, lo, hi);
}

static void shm_run_end(struct simpler_worker *w)
{
	struct hostmem *h = w->hm;
	size_t i, k;

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
}

static void shm_fini(struct hostmem *h)
{
	int i;

	if (h->mirror_base) {
		sx_extalloc_fini(&h->mirror);
		munmap(h->mirror_base, h->mirror_size);
	}
	for (i = 0; i < MAX_PROCS; i++)
		snap_drop(h, i);
}

static const struct hm_ops shm_ops = {
	.name = "shm",
	.fini = shm_fini,
	.prefork = shm_prefork,
	.reg = shm_reg,
	.unreg = shm_unreg,
	.use = shm_use,
	.verdict = shm_verdict,
	.run_end = shm_run_end,
};

int sx_hm_shm_init(struct simpler_worker *w, struct hostmem *h, uint64_t mirror_size)
{
	h->ops = &shm_ops;
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
