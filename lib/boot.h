/* SPDX-License-Identifier: MIT */
/*
 * Chip bootstrap (DESIGN 3.7): per-chip comm domains and named buffers
 * carved from the chip's window, staged in from host memory at bootstrap
 * and out to host memory after every successful task.  The configuration is
 * validated and copied in full before any chip or comm state exists; the
 * domains are created in the application before the chips start, so every
 * chip process has the windows at the same addresses.
 */
#ifndef SIMPLER_BOOT_H
#define SIMPLER_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/simpler.h"

struct simpler_worker;
struct chipside;
struct simpler_comm;

struct boot_buf {
	char name[SIMPLER_BUFFER_NAME_LEN];
	uint64_t addr, nbytes;
	unsigned flags;
	const void *load_from;
	void *store_to;
};

struct boot_dom {
	char name[48];
	uint32_t nranks;
	uint64_t window_req, window;	/* asked for, and what the platform gives */
	struct simpler_comm *comm;
	uint64_t lo, hi;		/* its windows, once it exists */
	int first;			/* the first chip that named it */
};

struct boot_chip {
	int dom;			/* index into boot.dom, -1: no comm */
	uint32_t rank;
	int nbuf, nstore;
	struct boot_buf *buf;
	struct simpler_chip_buffer *pub;	/* what simpler_chip_context() shows */
};

struct boot {
	int nchips, ndom;
	struct boot_chip *chip;
	struct boot_dom *dom;
	uint32_t timeout_ms;
};

/* validate o's bootstrap configs and keep a copy in w->boot (none: NULL); touches nothing */
int boot_prepare(struct simpler_worker *w, const struct simpler_worker_opts *o, int nr_chips);
/* create every comm domain (before any chip starts) and place the buffers */
int boot_comm_create(struct simpler_worker *w);
/* release the domains (each exactly once) and the copy */
void boot_fini(struct simpler_worker *w);
/*
 * On the chip (its process, or the creating thread in thread mode): join the
 * domain; the first time also zero the window, load the buffers and, with
 * barrier, wait for every rank.  0, or -errno and why in err.
 */
int boot_chip(struct chipside *cs, const struct boot *b, bool first, bool barrier, char *err,
	      size_t len);
/* after a successful task on the chip: its STORE_TO_HOST buffers out; -errno and msg */
int boot_store(struct chipside *cs, char *msg, size_t len);
/* is [addr, addr + n) inside a comm domain's windows?  (they are one address space) */
bool boot_in_windows(const struct simpler_worker *w, uint64_t addr, uint64_t n);

#endif /* SIMPLER_BOOT_H */
