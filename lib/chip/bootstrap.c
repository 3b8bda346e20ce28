// SPDX-License-Identifier: MIT
/*
 * Chip bootstrap on the chip (see bootstrap.h).  Three rules upstream
 * learned the hard way (#630) hold by construction: a task's outputs are
 * stored to the host before the task is reported done (the store runs
 * inside the chip's launch, before the result is published); never after a
 * failed task; and every staging entry was checked at create (boot.c),
 * before any chip existed.
 */
#include <stdio.h>

#include "chip/bootstrap.h"
#include "chip/launch.h"

/* every buffer of bc with flag: in from load_from, or out to store_to */
static int stage(struct chipside *cs, const struct boot_chip *bc, unsigned flag, char *err,
		 size_t len)
{
	char why[256];
	int i, ret;

	for (i = 0; i < bc->nbuf; i++) {
		const struct boot_buf *x = &bc->buf[i];

		if (!(x->flags & flag))
			continue;
		if (flag == SIMPLER_LOAD_FROM_HOST)
			ret = cs->plat->copy_to(cs->chip, x->addr, x->load_from, x->nbytes, why,
						sizeof(why));
		else
			ret = cs->plat->copy_from(cs->chip, x->store_to, x->addr, x->nbytes, why,
						  sizeof(why));
		if (ret) {
			snprintf(err, len, "%s='%s': %s", flag == SIMPLER_LOAD_FROM_HOST ?
				 "load_from_host" : "store_to_host", x->name, why);
			return ret;
		}
	}
	return 0;
}

int sx_boot_attach(struct chipside *cs, const struct boot *b, bool first, bool barrier, char *err,
		   size_t len)
{
	const struct boot_chip *bc = &b->chip[cs->index];
	struct boot_dom *d = bc->dom >= 0 ? &b->dom[bc->dom] : NULL;
	char why[256];
	int ret;

	if (!d)
		return 0;
	ret = cs->plat->comm_attach(cs->chip, d->comm, bc->rank, first, why, sizeof(why));
	if (ret) {
		snprintf(err, len, "comm domain '%s', rank %u: %s", d->name, bc->rank, why);
		return ret;
	}
	/* a restarted chip finds its window as its predecessor left it */
	if (!first)
		return 0;
	ret = stage(cs, bc, SIMPLER_LOAD_FROM_HOST, err, len);
	if (ret)
		return ret;
	if (barrier) {
		ret = cs->plat->comm_barrier(d->comm, b->timeout_ms, why, sizeof(why));
		if (ret) {
			snprintf(err, len, "%s", why);
			return ret;
		}
	}
	return 0;
}

int sx_boot_store(struct chipside *cs, char *msg, size_t len)
{
	return stage(cs, &cs->boot->chip[cs->index], SIMPLER_STORE_TO_HOST, msg, len);
}
