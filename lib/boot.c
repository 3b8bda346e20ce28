// SPDX-License-Identifier: MIT
/*
 * Chip bootstrap (see boot.h).  Three rules upstream learned the hard way
 * (#630) hold by construction here: a task's outputs are stored to the host
 * before the task is reported done (the store runs inside the chip's launch,
 * before the result is published); never after a failed task; and every
 * staging entry is checked at create, in the application, before any chip
 * exists, so a chip cannot find one missing after it said ready.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapsnap.h"
#include "boot.h"
#include "worker.h"

static int bfail(struct simpler_worker *w, int chip, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "chip N bootstrap failed: <why>" */
static int bfail(struct simpler_worker *w, int chip, int err, const char *fmt, ...)
{
	char why[ERRMSG_LEN - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return werr(w, err, "chip %d bootstrap failed: %s", chip, why);
}

/* [a, a + n) covered by mappings (shared ones only, with shared) in s */
static bool covered(const struct mapsnap *s, uint64_t a, uint64_t n, bool shared)
{
	uint64_t end = a + n;
	size_t i;

	if (end < a)
		return false;
	for (i = 0; i < s->n && a < end; i++) {
		const struct vma_ident *v = &s->v[i];

		if (v->end <= a)
			continue;
		if (v->start > a || (shared && (!v->shared || v->dontcopy)))
			return false;
		a = v->end;
	}
	return a >= end;
}

/* one chip's buffers: names, flags, symmetry, sizes, host memory */
static int check_buffers(struct simpler_worker *w, int chip, const struct simpler_bootstrap_config *c,
			 const struct mapsnap *maps)
{
	const unsigned known = SIMPLER_LOAD_FROM_HOST | SIMPLER_STORE_TO_HOST;
	int i, j;

	if (c->nr_buffers < 0 || c->nr_buffers > SIMPLER_MAX_BUFFERS)
		return bfail(w, chip, -EINVAL, "nr_buffers %d is not in 0..%d", c->nr_buffers,
			     SIMPLER_MAX_BUFFERS);
	if (c->nr_buffers && !c->buffers)
		return bfail(w, chip, -EINVAL, "nr_buffers is %d but buffers is NULL",
			     c->nr_buffers);
	for (i = 0; i < c->nr_buffers; i++) {
		const struct simpler_buffer_config *b = &c->buffers[i];
		bool load = b->flags & SIMPLER_LOAD_FROM_HOST, store = b->flags & SIMPLER_STORE_TO_HOST;

		if (!b->name || !b->name[0] || strlen(b->name) >= SIMPLER_BUFFER_NAME_LEN)
			return bfail(w, chip, -EINVAL, "buffer %d: a name of 1..%d bytes is needed",
				     i, SIMPLER_BUFFER_NAME_LEN - 1);
		for (j = 0; j < i; j++)
			if (!strcmp(c->buffers[j].name, b->name))
				return bfail(w, chip, -EINVAL, "buffer '%s' is declared twice "
					     "(buffers %d and %d): names must be unique", b->name,
					     j, i);
		if (!b->nbytes)
			return bfail(w, chip, -EINVAL, "buffer '%s' has nbytes 0", b->name);
		if (b->flags & ~known)
			return bfail(w, chip, -EINVAL, "buffer '%s': unknown flags 0x%x", b->name,
				     b->flags & ~known);
		/* symmetry, both ways */
		if (load && !b->load_from)
			return bfail(w, chip, -EINVAL, "buffer '%s' has SIMPLER_LOAD_FROM_HOST but "
				     "no load_from: give the host memory to load it from", b->name);
		if (!load && b->load_from)
			return bfail(w, chip, -EINVAL, "buffer '%s' has a load_from but not "
				     "SIMPLER_LOAD_FROM_HOST: set the flag or drop load_from",
				     b->name);
		if (store && !b->store_to)
			return bfail(w, chip, -EINVAL, "buffer '%s' has SIMPLER_STORE_TO_HOST but "
				     "no store_to: give the host memory to store it to", b->name);
		if (!store && b->store_to)
			return bfail(w, chip, -EINVAL, "buffer '%s' has a store_to but not "
				     "SIMPLER_STORE_TO_HOST: set the flag or drop store_to",
				     b->name);
		if (load && b->load_size != b->nbytes)
			return bfail(w, chip, -EINVAL, "buffer '%s': load_size %" PRIu64 " differs "
				     "from nbytes %" PRIu64, b->name, b->load_size, b->nbytes);
		if (store && b->store_size != b->nbytes)
			return bfail(w, chip, -EINVAL, "buffer '%s': store_size %" PRIu64 " differs "
				     "from nbytes %" PRIu64, b->name, b->store_size, b->nbytes);
		if (load && !covered(maps, (uintptr_t)b->load_from, b->nbytes, false))
			return bfail(w, chip, -EFAULT, "buffer '%s': load_from %p (%" PRIu64
				     " bytes) is not mapped memory", b->name, b->load_from,
				     b->nbytes);
		if (store && !covered(maps, (uintptr_t)b->store_to, b->nbytes, !w->mode_threads))
			return bfail(w, chip, -EFAULT, "buffer '%s': store_to %p (%" PRIu64
				     " bytes) is %s", b->name, b->store_to, b->nbytes,
				     w->mode_threads ? "not mapped memory" :
				     "not shared memory mapped before create, so the chip process "
				     "cannot write into it: map it MAP_SHARED (or a memfd) before "
				     "simpler_worker_create(), or use SIMPLER_WORKER_THREADS");
	}
	return 0;
}

/* the domain called name, added if new; -1 when full */
static int find_dom(struct boot *b, const char *name)
{
	int i;

	for (i = 0; i < b->ndom; i++)
		if (!strcmp(b->dom[i].name, name))
			return i;
	return -1;
}

static int check_comm(struct simpler_worker *w, struct boot *b, int chip,
		      const struct simpler_bootstrap_config *c, int *owner)
{
	const struct simpler_comm_config *m = &c->comm;
	struct boot_chip *bc = &b->chip[chip];
	struct boot_dom *d;
	uint64_t win;
	int k;

	bc->dom = -1;
	if (!m->domain || !m->domain[0]) {
		if (c->nr_buffers)
			return bfail(w, chip, -EINVAL, "buffers are carved from a comm window, "
				     "but comm.domain is not set");
		return 0;
	}
	if (strlen(m->domain) >= sizeof(d->name))
		return bfail(w, chip, -EINVAL, "comm domain name '%.60s...' is longer than %zu "
			     "bytes", m->domain, sizeof(d->name) - 1);
	if (m->nranks < 1 || m->nranks > MAX_EXECS)
		return bfail(w, chip, -EINVAL, "comm domain '%s': nranks %d is not in 1..%d",
			     m->domain, m->nranks, MAX_EXECS);
	if (m->rank < 0 || m->rank >= m->nranks)
		return bfail(w, chip, -EINVAL, "comm domain '%s': rank %d is out of range "
			     "(0..%d for %d ranks)", m->domain, m->rank, m->nranks - 1, m->nranks);
	win = w->plat->comm_window_size ? w->plat->comm_window_size(m->window_size) : 0;
	if (!win)
		return bfail(w, chip, -EINVAL, "comm domain '%s': platform '%s' cannot give "
			     "windows of %" PRIu64 " bytes", m->domain, w->plat->name,
			     m->window_size);
	k = find_dom(b, m->domain);
	if (k < 0) {
		k = b->ndom++;
		d = &b->dom[k];
		snprintf(d->name, sizeof(d->name), "%s", m->domain);
		d->nranks = (uint32_t)m->nranks;
		d->window_req = m->window_size;
		d->window = win;
		d->first = chip;
	}
	d = &b->dom[k];
	if (d->nranks != (uint32_t)m->nranks)
		return bfail(w, chip, -EINVAL, "comm domain '%s': nranks %d, but chip %d said %u",
			     m->domain, m->nranks, d->first, d->nranks);
	if (d->window_req != m->window_size)
		return bfail(w, chip, -EINVAL, "comm domain '%s': window_size %" PRIu64 ", but "
			     "chip %d said %" PRIu64, m->domain, m->window_size,
			     d->first, d->window_req);
	if (owner[k * MAX_EXECS + m->rank] >= 0 && owner[k * MAX_EXECS + m->rank] != chip)
		return bfail(w, chip, -EINVAL, "comm domain '%s': rank %d is chip %d's already",
			     m->domain, m->rank, owner[k * MAX_EXECS + m->rank]);
	owner[k * MAX_EXECS + m->rank] = chip;
	bc->dom = k;
	bc->rank = (uint32_t)m->rank;
	return 0;
}

/* carve chip's buffers from its window (offsets now, addresses once it exists) */
static int carve(struct simpler_worker *w, struct boot *b, int chip,
		 const struct simpler_bootstrap_config *c)
{
	struct boot_chip *bc = &b->chip[chip];
	uint64_t off = 0, win = bc->dom >= 0 ? b->dom[bc->dom].window : 0;
	int i;

	bc->nbuf = c->nr_buffers;
	bc->buf = calloc(c->nr_buffers ? c->nr_buffers : 1, sizeof(*bc->buf));
	bc->pub = calloc(c->nr_buffers ? c->nr_buffers : 1, sizeof(*bc->pub));
	if (!bc->buf || !bc->pub)
		return werr(w, -ENOMEM, "out of memory");
	for (i = 0; i < c->nr_buffers; i++) {
		const struct simpler_buffer_config *s = &c->buffers[i];
		struct boot_buf *d = &bc->buf[i];

		if (s->nbytes > win - off)
			return bfail(w, chip, -EINVAL, "buffer '%s' (nbytes=%" PRIu64 ") at offset "
				     "%" PRIu64 " overflows the window of domain '%s' (%" PRIu64
				     " bytes; window_size %" PRIu64 " rounded up)", s->name,
				     s->nbytes, off, b->dom[bc->dom].name, win,
				     b->dom[bc->dom].window_req);
		snprintf(d->name, sizeof(d->name), "%s", s->name);
		d->addr = off;		/* an offset until the window exists */
		d->nbytes = s->nbytes;
		d->flags = s->flags;
		d->load_from = s->load_from;
		d->store_to = s->store_to;
		bc->nstore += !!(s->flags & SIMPLER_STORE_TO_HOST);
		off += s->nbytes;
	}
	return 0;
}

int sx_boot_prepare(struct simpler_worker *w, const struct simpler_bootstrap_config *cfg,
		    int nr_chips, uint32_t timeout_ms)
{
	struct mapsnap maps = { 0 };
	struct boot *b;
	int *owner = NULL, i, r, ret;

	w->boot = NULL;
	if (!cfg)
		return 0;
	b = calloc(1, sizeof(*b));
	if (b) {
		b->chip = calloc((size_t)nr_chips, sizeof(*b->chip));
		b->dom = calloc((size_t)nr_chips, sizeof(*b->dom));
	}
	owner = malloc(sizeof(*owner) * (size_t)nr_chips * MAX_EXECS);
	w->boot = b;
	if (!b || !b->chip || !b->dom || !owner) {
		free(owner);
		return werr(w, -ENOMEM, "out of memory");
	}
	b->nchips = nr_chips;
	b->timeout_ms = timeout_ms;
	for (i = 0; i < nr_chips * MAX_EXECS; i++)
		owner[i] = -1;
	ret = sx_mapsnap_take(&maps, false);
	if (ret) {
		free(owner);
		return werr(w, ret, "cannot read /proc/self/maps: %s", strerror(-ret));
	}
	for (i = 0; i < nr_chips && !ret; i++) {
		ret = check_buffers(w, i, &cfg[i], &maps);
		if (!ret)
			ret = check_comm(w, b, i, &cfg[i], owner);
		if (!ret)
			ret = carve(w, b, i, &cfg[i]);
	}
	/* every rank of every domain has a chip */
	for (i = 0; i < b->ndom && !ret; i++)
		for (r = 0; r < (int)b->dom[i].nranks && !ret; r++)
			if (owner[i * MAX_EXECS + r] < 0)
				ret = bfail(w, b->dom[i].first, -EINVAL, "comm domain '%s' has no "
					    "rank %d: each of its %u ranks needs one chip",
					    b->dom[i].name, r, b->dom[i].nranks);
	sx_mapsnap_free(&maps);
	free(owner);
	return ret;
}

int sx_boot_comm_create(struct simpler_worker *w)
{
	struct boot *b = w->boot;
	char err[256];
	int i, k, ret;

	if (!b)
		return 0;
	for (i = 0; i < b->ndom; i++) {
		ret = w->plat->comm_create(b->dom[i].name, b->dom[i].nranks, b->dom[i].window_req,
					   &b->dom[i].comm, err, sizeof(err));
		if (ret)
			return bfail(w, b->dom[i].first, ret, "comm domain '%s': %s",
				     b->dom[i].name, err);
		b->dom[i].lo = w->plat->comm_window(b->dom[i].comm, 0);
		b->dom[i].hi = b->dom[i].lo + b->dom[i].window * b->dom[i].nranks;
	}
	for (i = 0; i < b->nchips; i++) {
		struct boot_chip *bc = &b->chip[i];
		uint64_t base = bc->dom >= 0 ? w->plat->comm_window(b->dom[bc->dom].comm, bc->rank) :
					       0;

		for (k = 0; k < bc->nbuf; k++) {
			bc->buf[k].addr += base;
			bc->pub[k] = (struct simpler_chip_buffer){ bc->buf[k].name, bc->buf[k].addr,
								   bc->buf[k].nbytes,
								   bc->buf[k].flags };
		}
	}
	return 0;
}

void sx_boot_fini(struct simpler_worker *w)
{
	struct boot *b = w->boot;
	int i;

	if (!b)
		return;
	for (i = 0; i < b->ndom; i++)
		if (b->dom[i].comm)
			w->plat->comm_destroy(&b->dom[i].comm);
	for (i = 0; i < b->nchips; i++) {
		free(b->chip[i].buf);
		free(b->chip[i].pub);
	}
	free(b->chip);
	free(b->dom);
	free(b);
	w->boot = NULL;
}

/* ---- the public side ---- */

SIMPLER_API int simpler_chip_context(const struct simpler_worker *w, int chip,
				     struct simpler_chip_context *ctx)
{
	struct simpler_chip_context v;
	const struct boot_chip *bc;
	const struct boot_dom *d;

	if (!w)
		return werr(NULL, -EINVAL, "chip_context: NULL worker");
	if (chip < 0 || chip >= w->chips.n)
		return werr(w, -EINVAL, "chip_context: chip %d does not exist (the worker has %d)",
			    chip, w->chips.n);
	memset(&v, 0, sizeof(v));
	v.sz = sizeof(v);
	v.domain = "";
	v.nranks = 1;
	bc = w->boot ? &w->boot->chip[chip] : NULL;
	d = bc && bc->dom >= 0 ? &w->boot->dom[bc->dom] : NULL;
	if (d) {
		v.domain = d->name;
		v.rank = (int)bc->rank;
		v.nranks = (int)d->nranks;
		v.window_base = w->plat->comm_window(d->comm, bc->rank);
		v.window_size = d->window;
	}
	if (bc) {
		v.nr_buffers = bc->nbuf;
		v.buffers = bc->pub;
	}
	return sx_opts_out(ctx, &v, sizeof(v), "chip_context", "simpler_chip_context",
			   worker_errbuf(w));
}

SIMPLER_API int simpler_chip_buffer(struct simpler_worker *w, int chip, const char *name,
				    uint64_t *addr)
{
	const struct boot_chip *bc;
	int i;

	if (!w)
		return werr(NULL, -EINVAL, "chip_buffer: NULL worker");
	if (!name || !addr)
		return werr(w, -EINVAL, "chip_buffer: need a buffer name and an address to fill");
	if (chip < 0 || chip >= w->chips.n)
		return werr(w, -EINVAL, "chip_buffer: chip %d does not exist (the worker has %d)",
			    chip, w->chips.n);
	bc = w->boot ? &w->boot->chip[chip] : NULL;
	for (i = 0; bc && i < bc->nbuf; i++) {
		if (!strcmp(bc->buf[i].name, name)) {
			*addr = bc->buf[i].addr;
			return 0;
		}
	}
	return werr(w, -ENOENT, "chip_buffer: chip %d has no buffer '%s'", chip, name);
}

SIMPLER_API int simpler_chip_peer_window(struct simpler_worker *w, int chip, int rank,
					 uint64_t *addr)
{
	const struct boot_chip *bc;
	const struct boot_dom *d;

	if (!w)
		return werr(NULL, -EINVAL, "chip_peer_window: NULL worker");
	if (!addr)
		return werr(w, -EINVAL, "chip_peer_window: need an address to fill");
	if (chip < 0 || chip >= w->chips.n)
		return werr(w, -EINVAL, "chip_peer_window: chip %d does not exist (the worker "
			    "has %d)", chip, w->chips.n);
	bc = w->boot ? &w->boot->chip[chip] : NULL;
	d = bc && bc->dom >= 0 ? &w->boot->dom[bc->dom] : NULL;
	if (!d)
		return werr(w, -EINVAL, "chip_peer_window: chip %d is in no comm domain", chip);
	if (rank < 0 || (uint32_t)rank >= d->nranks)
		return werr(w, -EINVAL, "chip_peer_window: rank %d is out of range for domain "
			    "'%s' (%u ranks)", rank, d->name, d->nranks);
	*addr = w->plat->comm_window(d->comm, (uint32_t)rank);
	return 0;
}
