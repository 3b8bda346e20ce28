/* SPDX-License-Identifier: MIT */
/*
 * Chip bootstrap on the chip (DESIGN 3.7): the configuration the worker
 * validated and placed at create (boot.h), as the chip reads it: join the
 * comm domain, load the named buffers from the host at the first start,
 * store the STORE_TO_HOST ones after every successful task.  Read-only
 * once the chips start; a chip touches only its own entry.
 */
#ifndef SIMPLER_CHIP_BOOTSTRAP_H
#define SIMPLER_CHIP_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simpler.h"

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

/*
 * On the chip (its process, or the creating thread in thread mode): join the
 * domain; the first time also zero the window, load the buffers and, with
 * barrier, wait for every rank.  0, or -errno and why in err.
 */
int sx_boot_attach(struct chipside *cs, const struct boot *b, bool first, bool barrier, char *err,
		   size_t len);
/* after a successful task on the chip: its STORE_TO_HOST buffers out; -errno and msg */
int sx_boot_store(struct chipside *cs, char *msg, size_t len);
/* is [addr, addr + n) inside a comm domain's windows?  (they are one address space) */
static inline bool boot_in_windows(const struct boot *b, uint64_t addr, uint64_t n)
{
	int i;

	/* on the submit path: bounds kept at create, no call into the platform */
	for (i = 0; b && i < b->ndom; i++)
		if (addr >= b->dom[i].lo && addr < b->dom[i].hi && n <= b->dom[i].hi - addr)
			return true;
	return false;
}

#endif /* SIMPLER_CHIP_BOOTSTRAP_H */
