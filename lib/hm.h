/* SPDX-License-Identifier: MIT */
/*
 * Inside the host-memory layer (hostmem.h): the registered-buffer table
 * hostmem.c keeps, and the ops table each backend fills.  hostmem.c holds
 * what every backend shares (the table, the per-run cache of ranges found
 * visible, the submit and check logic, the public calls); hm_kmod.c and
 * hm_shm.c hold what differs; thread mode needs no backend at all.  The
 * table and everything behind it are under the worker's mem_lock unless an
 * op says otherwise.
 */
#ifndef SIMPLER_HM_H
#define SIMPLER_HM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/extalloc.h"
#include "base/mapsnap.h"
#include "base/rangeset.h"
#include "chip/env.h"
#include "worker.h"

struct simpler_worker;

struct hbuf {
	uint64_t addr, len, handle;	/* the application's view */
	uint64_t kh, klo, khi;		/* kmod: the pinned pages [klo, khi), maybe shared */
	uint64_t used_run;		/* the last run a task used it in */
	/* shm, offsets into the buffer, for used_run: */
	uint64_t mirror;		/* where the chips see it */
	struct rangeset valid;		/* the mirror holds the run's data there */
	struct rangeset dirty;		/* tasks write there: copied back at the end */
};

struct hostmem;

struct hm_ops {
	const char *name;
	void (*fini)(struct hostmem *h);
	/* before forking child slot (the same memory as slot same_as, -1: look) */
	int (*prefork)(struct hostmem *h, int slot, int same_as);
	/* b is about to enter the table (its handle not yet set): make it reachable */
	int (*reg)(struct simpler_worker *w, struct hbuf *b);
	/* b left the table: forget what only it held (mem_lock held), then let go (not held) */
	void (*unreg_locked)(struct hostmem *h, struct hbuf *b);
	int (*unreg)(struct simpler_worker *w, struct hbuf *b);
	/* a task of this run uses [s, s + len) of b with acc: what its frame carries */
	int (*use)(struct simpler_worker *w, struct hbuf *b, uint64_t s, uint64_t len,
		   unsigned acc, uint64_t *reg);
	/*
	 * May the processes use inherited [a, a + len)?  The verdict (enum
	 * simpler_vis); [*lo, *hi) the range it holds for; *bad a pid that
	 * cannot see it, or -1.
	 */
	unsigned (*verdict)(struct simpler_worker *w, uint64_t a, uint64_t len, int *bad,
			    uint64_t *lo, uint64_t *hi);
	/* the run ended: give back what it wrote (NULL: nothing to do) */
	void (*run_end)(struct simpler_worker *w);
};

struct hostmem {
	const struct hm_ops *ops;	/* NULL in thread mode: every address is visible */
	struct hbuf *v;			/* registered buffers, sorted by addr */
	size_t n, cap;
	uint64_t next_handle;
	uint64_t run;			/* bumped per run */
	struct rangeset ok;		/* ranges found visible during this run */
	/*
	 * Ranges found mapped writable during this run, and the last one found:
	 * the orchestrating thread's alone (run_begin and submit), no lock.
	 */
	struct rangeset writable;
	uint64_t wlo, whi;
	struct mapsnap cur;		/* the application's maps, read once a run */
	uint64_t cur_run;		/* the run cur was read in */
	/* kmod */
	int fd;
	void *sentinel;
	/* shm */
	void *mirror_base;
	uint64_t mirror_size;
	struct extalloc mirror;
	struct mapsnap *snaps[MAX_PROCS];	/* what each child slot inherited */
};

/* is b used by the run in progress? */
static inline bool hb_busy(struct simpler_worker *w, const struct hbuf *b)
{
	/* acquire: pairs with the release store that ends a run (orch.c) */
	return atomic_load_explicit(&w->running, memory_order_acquire) &&
	       b->used_run == w->hm->run;
}

/*
 * h->cur as the application maps memory in this run: 0, or -errno (mem_lock
 * held).  Inline: hostmem.c and the shm backend both use it, and hostmem.c
 * calls into the backends, never the other way.
 */
static inline int sx_hm_cur_maps(struct hostmem *h)
{
	int ret;

	if (h->cur_run == h->run)
		return 0;
	ret = sx_mapsnap_take(&h->cur, false);
	if (!ret)
		h->cur_run = h->run;
	return ret;
}

/* set h up as a backend; 0, or -errno with the worker's message */
int sx_hm_kmod_init(struct simpler_worker *w, struct hostmem *h, int fd);
int sx_hm_shm_init(struct simpler_worker *w, struct hostmem *h, uint64_t mirror_size);

#endif /* SIMPLER_HM_H */
