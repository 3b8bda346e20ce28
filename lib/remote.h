/* SPDX-License-Identifier: MIT */
/*
 * Remote nodes of an L4 under mpirun: rank 0's engine (remote.c), which
 * serves the remote nodes' mailboxes over MPI, and what a node rank runs
 * instead of returning a worker (noderank.c).
 */
#ifndef SIMPLER_REMOTE_H
#define SIMPLER_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "mpi_plugin.h"
#include "worker.h"

/*
 * Rank 0, after the L4 worker w (its remote nodes' slots unforked) exists:
 * initialise MPI, take every node rank's HELLO, tell all ranks the one
 * verdict, then start the engine.  0, or -errno with w's message set (the
 * caller destroys w, which finalises MPI).
 */
int sx_remote_start(struct simpler_worker *w, const struct sx_mpi_ops *ops, int size,
		    uint32_t timeout_ms);
/* stop the engine, tell every node to stop, finalise MPI (no run in progress) */
void sx_remote_stop(struct simpler_worker *w);
/*
 * The orchestrator waits for its run's end (done(w)): it drives the engine
 * itself meanwhile (its tasks go out and their DONEs are reaped in its own
 * turns, not by hand-offs to and from the engine thread, which sleeps until
 * it leaves), dispatching local work as SCHED_HELP_UNTIL does.  It leaves
 * when done, or once nothing moved for LINK_WARM_NS outside a transfer's
 * calm (long tasks: the engine thread and the dispatcher wait for them,
 * and wake it), letting the dispatcher thread go either way.
 */
void sx_remote_drive(struct simpler_worker *w, bool (*done)(struct simpler_worker *w));
/* simpler_node_info() of remote node i */
void sx_remote_info(const struct simpler_worker *w, int i, struct simpler_node_info *info);

/*
 * A node rank: reserve the arena, create the L3 worker from o's
 * remote_opts, initialise MPI, say HELLO, and serve rank 0 until it says
 * SHUTDOWN.  1 then, or -errno with the thread's last message set.
 */
int sx_noderank_serve(const struct simpler_worker_opts *o, const struct sx_mpi_ops *ops,
		      int rank, int size);

#endif /* SIMPLER_REMOTE_H */
