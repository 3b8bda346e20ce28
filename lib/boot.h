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

#include "chip/bootstrap.h"
#include "include/simpler.h"

struct simpler_worker;

/* validate o's bootstrap configs and keep a copy in w->boot (none: NULL); touches nothing */
int sx_boot_prepare(struct simpler_worker *w, const struct simpler_bootstrap_config *cfg,
		    int nr_chips, uint32_t timeout_ms);
/* create every comm domain (before any chip starts) and place the buffers */
int sx_boot_comm_create(struct simpler_worker *w);
/* release the domains (each exactly once) and the copy */
void sx_boot_fini(struct simpler_worker *w);
#endif /* SIMPLER_BOOT_H */
