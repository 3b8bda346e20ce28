// SPDX-License-Identifier: MIT
/*
 * The kmod host-memory backend (see hostmem.h, hm.h): simpler.ko pins the
 * pages of registered buffers, and the chip processes map them on first use
 * (chip/hostmap.c): zero copies.  Visibility of inherited memory comes from
 * SIMPLER_IOC_QUERY, which knows each member's VMAs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/kmod.h"
#include "hm.h"
#include "lanes.h"
#include "worker.h"

static int kmod_register(struct hostmem *h, uint64_t lo, uint64_t hi, uint64_t *kh)
{
	struct simpler_register r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.addr = lo;
	r.len = hi - lo;
	ret = sx_kmod_ioctl(h->fd, SIMPLER_IOC_REGISTER, &r);
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
 * The union of [lo, hi) could not be registered after the registrations it
 * replaces were dropped: register each of those again, so the buffers that
 * used them keep working.  One that fails again is left with kh 0, which
 * kmod_use() refuses with a message rather than hand the child nothing.
 */
static void restore_replaced(struct hostmem *h, uint64_t lo, uint64_t hi)
{
	uint64_t kh;
	size_t k, n;

	for (k = 0; k < h->n; k++) {
		struct hbuf *o = &h->v[k];

		if (o->kh || o->khi <= lo || hi <= o->klo)
			continue;
		if (kmod_register(h, o->klo, o->khi, &kh))
			continue;
		for (n = k; n < h->n; n++)
			if (!h->v[n].kh && h->v[n].klo == o->klo && h->v[n].khi == o->khi)
				h->v[n].kh = kh;
	}
}

/*
 * Pin the pages that hold b.  Registrations are page ranges and may not
 * overlap, while buffers may share pages: a buffer inside a registered
 * range shares it; one that straddles registered ranges replaces them by
 * their union (children unmap the old ones first, so not while the run in
 * progress uses them).
 */
static int kmod_reg(struct simpler_worker *w, struct hbuf *b)
{
	struct hostmem *h = w->hm;
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), a = b->addr;
	uint64_t lo = a & ~(pg - 1), hi = (a + b->len + pg - 1) & ~(pg - 1), kh;
	void *addr = (void *)(uintptr_t)b->addr;
	size_t len = b->len;
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
		if (hb_busy(w, o))
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
	ret = kmod_register(h, lo, hi, &b->kh);
	if (ret) {
		b->kh = 0;
		restore_replaced(h, lo, hi);
		return werr(w, ret, "host_register: simpler.ko refused %p (%zu bytes as pages "
			    "0x%" PRIx64 "..0x%" PRIx64 "): %s%s", addr, len, lo, hi,
			    strerror(-ret), ret == -ENOMEM ? " (RLIMIT_MEMLOCK or the module's "
			    "max_pinned_mb)" : "");
	}
	for (k = 0; k < h->n; k++) {
		if (h->v[k].klo < hi && lo < h->v[k].khi) {
			h->v[k].kh = b->kh;
			h->v[k].klo = lo;
			h->v[k].khi = hi;
		}
	}
	return 0;
}

static void kmod_unreg_locked(struct hostmem *h, struct hbuf *b)
{
	size_t i;

	/* pages still shared with another registered buffer stay registered */
	for (i = 0; i < h->n; i++)
		if (h->v[i].kh == b->kh)
			b->kh = 0;
}

static int kmod_unreg(struct simpler_worker *w, struct hbuf *b)
{
	int ret;

	if (!b->kh)
		return 0;
	ret = kmod_unregister(w, b->kh);
	if (ret)
		return werr(w, ret, "host_unregister: simpler.ko: %s", strerror(-ret));
	return 0;
}

static int kmod_use(struct simpler_worker *w, struct hbuf *b, uint64_t s, uint64_t len,
		    unsigned acc, uint64_t *reg)
{
	if (!b->kh)
		return werr(w, -ENOMEM, "submit: the buffer registered as handle %" PRIu64
			    " lost its pages' registration when a straddling simpler_host_register() "
			    "failed and simpler.ko refused to register them again: unregister and "
			    "register it again", b->handle);
	*reg = b->kh;	/* the child maps it */
	b->used_run = w->hm->run;
	return 0;
}

static unsigned kmod_verdict(struct simpler_worker *w, uint64_t a, uint64_t len, int *bad,
			     uint64_t *lo, uint64_t *hi)
{
	struct simpler_query q;

	*bad = -1;
	*lo = a;
	*hi = a + len;
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.addr = a;
	q.len = len;
	if (sx_kmod_ioctl(w->hm->fd, SIMPLER_IOC_QUERY, &q))
		return SIMPLER_VIS_UNMAPPED;
	*bad = (int)q.member_pid;
	return q.verdict;
}

static void kmod_fini(struct hostmem *h)
{
	/* closing the fd unregisters every buffer the application left */
	if (h->sentinel)
		munmap(h->sentinel, (size_t)sysconf(_SC_PAGESIZE));
	if (h->fd >= 0)
		close(h->fd);
}

static const struct hm_ops kmod_ops = {
	.name = "kmod",
	.fini = kmod_fini,
	.reg = kmod_reg,
	.unreg_locked = kmod_unreg_locked,
	.unreg = kmod_unreg,
	.use = kmod_use,
	.verdict = kmod_verdict,
};

int sx_hm_kmod_init(struct simpler_worker *w, struct hostmem *h, int fd)
{
	h->ops = &kmod_ops;
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
