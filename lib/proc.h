/* SPDX-License-Identifier: MIT */
/*
 * Chip and sub processes (proc.c): forked with a READY/FAILED handshake,
 * watched by a monitor thread, restarted at the next run when they die.
 */
#ifndef SIMPLER_PROC_H
#define SIMPLER_PROC_H

#include "worker.h"

int sx_proc_create(struct simpler_worker *w);
void sx_proc_destroy(struct simpler_worker *w);
int sx_proc_respawn(struct simpler_worker *w);

#endif /* SIMPLER_PROC_H */
