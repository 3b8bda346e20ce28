/* SPDX-License-Identifier: MIT */
/*
 * The parent's side of the chip and sub processes' mailboxes (lanes.c):
 * frames posted into a process's own ring or its pool's shared ring and
 * reaped from them by whoever holds the baton (sched.c), and control
 * commands (one caller per process at a time, under its ctl_lock).
 */
#ifndef SIMPLER_LANES_H
#define SIMPLER_LANES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker.h"

void sx_lane_post(struct exec *ex, struct qitem *it);
/* tell the L4's MPI engine that remote nodes have work (w->kick), if it listens */
void sx_lane_kick(struct simpler_worker *w);
void sx_lane_pool_post(struct simpler_worker *w, struct pool *p, unsigned i, struct qitem *it);
bool sx_lane_pool_reap(struct simpler_worker *w, struct pool *p, unsigned i, struct qitem **it,
		       struct exec **ran, struct failure **fail);
bool sx_lane_pool_unpost(struct pool *p, unsigned i, struct qitem **it);
bool sx_lane_reap(struct exec *ex, struct qitem **it, struct failure **f);
bool sx_lane_reapable(struct exec *ex);
struct failure *sx_lane_dead_failure(struct exec *ex, const struct task *t);
/* a control command; the caller holds ex->ctl_lock */
int sx_lane_ctl(struct exec *ex, uint32_t op, uint64_t a0, uint64_t a1, uint64_t *r0, char *msg,
		size_t len);
/* every live process drops its mapping of simpler.ko handle kh */
void sx_lane_unmap_all(struct simpler_worker *w, uint64_t kh);
/* is the process of slot running? */
bool sx_lane_alive(struct simpler_worker *w, int slot);

#endif /* SIMPLER_LANES_H */
