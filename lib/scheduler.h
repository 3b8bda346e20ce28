/* SPDX-License-Identifier: MIT */
/*
 * The scheduler (sched.c): readiness and completion of tasks, executor
 * queues, the executor threads (thread mode) and the dispatcher that feeds
 * the processes' mailboxes (process mode), and when waiters may spin.
 */
#ifndef SIMPLER_SCHEDULER_H
#define SIMPLER_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "worker.h"

int sx_sched_start(struct simpler_worker *w);
/* process mode: reap what finished, unless the dispatcher thread is at it */
void sx_sched_catch_up(struct simpler_worker *w);
/* process mode: a task was published (ready: it was ready at once) */
void sx_sched_submitted(struct simpler_worker *w, bool ready);
/* process mode: the orchestrator is about to wait: the dispatcher thread takes care */
void sx_sched_let_go(struct simpler_worker *w);
/*
 * process mode: dispatch until cond holds or nothing moves for spin_ns.
 * Gave up: let go (the caller is about to sleep).  cond holds: the
 * orchestrator stays in charge when it goes on submitting (leave false),
 * lets go when it leaves the library (leave true).
 */
#define SCHED_HELP_UNTIL(w, cond, leave)                                              \
	do {                                                                          \
		uint64_t __since = 0, __spin = 0;                                     \
		unsigned __idle = 0;                                                  \
                                                                                      \
		sx_sched_present(w);                                                  \
		while (!(cond)) {                                                     \
			/* again: a dispatcher thread took over if we were off a CPU */ \
			sx_sched_present(w);                                          \
			if (sx_sched_help(w)) {                                       \
				__idle = 0;                                           \
			} else if (++__idle % 32) {                                   \
				cpu_relax();                                          \
			} else if (__idle == 32) {                                    \
				__since = now_ns();  /* idle from here */             \
				__spin = sx_sched_spin_ns(w);                         \
			} else if (now_ns() - __since >= __spin) {                    \
				break;                                                \
			}                                                             \
		}                                                                     \
		if ((leave) || !(cond))                                               \
			sx_sched_let_go(w);                                           \
	} while (0)
/* the orchestrator is here and dispatches itself: the dispatcher thread stands by */
void sx_sched_present(struct simpler_worker *w);
/* the orchestrator's heartbeat, which keeps the dispatcher thread standing by */
static inline void sched_beat(struct simpler_worker *w)
{
	atomic_store_explicit(&w->beat, atomic_load_explicit(&w->beat, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}
bool sx_sched_help(struct simpler_worker *w);
/*
 * Process mode: one dispatch pass if nobody else holds the baton; true if
 * it ran (whatever finished before it is reaped; *moved: it reaped or
 * posted something).  A remote node's engine (remote.c) reaps its own
 * completions so, instead of waking the dispatcher.
 */
bool sx_sched_pass(struct simpler_worker *w, bool *moved);
/*
 * How long a dispatching party (the orchestrator, the dispatcher thread)
 * may spin for completions before it sleeps: 0 when tasks take longer than
 * a spin, or when spinning would take a CPU that a running process or
 * another program needs.
 */
uint64_t sx_sched_spin_ns(struct simpler_worker *w);
/*
 * Other programs' runnable tasks: /proc/loadavg's running count, less ours
 * (the caller says how many of its own threads and processes are runnable),
 * looked at every few ms by whichever caller comes first.
 */
unsigned sx_sched_others(struct simpler_worker *w, unsigned ours);
void sx_sched_stop(struct simpler_worker *w);
void sx_task_ready(struct task *t);
void sx_task_gate(struct task *t);
void sx_task_finish(struct task *t, struct failure *f, struct exec *ex);
void sx_frame_put(struct simpler_worker *w, struct frame *f, int64_t n);

#endif /* SIMPLER_SCHEDULER_H */
