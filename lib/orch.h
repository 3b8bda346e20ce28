/* SPDX-License-Identifier: MIT */
/*
 * The orchestrator's side of a worker (orch.c): runs, submit, scopes and
 * simpler_orch_alloc() memory.
 */
#ifndef SIMPLER_ORCH_H
#define SIMPLER_ORCH_H

#include "worker.h"

void sx_orch_reclaim(struct simpler_worker *w);
void sx_orch_free_all(struct simpler_worker *w);

#endif /* SIMPLER_ORCH_H */
