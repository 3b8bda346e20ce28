/* SPDX-License-Identifier: MIT */
/*
 * Executors and pools: one executor per chip and per sub, in a pool of
 * chips and a pool of subs.  In thread mode an executor is a thread that
 * runs its chip; in process mode it is the parent's handle on a chip or sub
 * process (its mailbox, pid, death) driven by the dispatcher.
 */
#ifndef SIMPLER_EXEC_H
#define SIMPLER_EXEC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/compiler.h"
#include "base/sync.h"
#include "chip/launch.h"
#include "mailbox.h"
#include "task.h"

struct exec_ctx;

/* single-writer counters: bumped without a locked instruction */
#define STAT_ADD(x, n) atomic_store_explicit(&(x), atomic_load_explicit(&(x), \
			memory_order_relaxed) + (n), memory_order_relaxed)

struct mailbox;

struct exec {
	struct simpler_worker *w;
	struct pool *pool;
	int index;
	pthread_t thread;
	bool started;
	struct chipside cs;		/* thread mode: the chip (or sub) runs here */
	/* process mode */
	int slot;			/* chips 0..n-1, then subs */
	struct mailbox *mb;
	pid_t pid;			/* > 0 while it runs */
	int pidfd;
	/*
	 * A node (level 4): the read end of its lifeline, a pipe whose write
	 * end the node and every process it forks hold; it hangs up when the
	 * last of them is gone.  -1 otherwise.
	 */
	int tree_fd;
	char tag[112];			/* "chip 1 (pid 4242)", "node 2 (rank 2 on vm, pid 4242)" */
	/*
	 * A node of another rank of an mpirun job (level 4): no process of
	 * ours, the L4's engine (remote.c) serves its mailbox over MPI.  It is
	 * never forked, stopped or restarted here; once lost it stays dead,
	 * lost_err (-EHOSTDOWN: silent, -EPROTO: a bad frame) saying why.
	 */
	bool remote;
	int lost_err;
	_Atomic bool dead;		/* set by the monitor (seq_cst) */
	char death[256];		/* how it ended, written before dead */
	int restarts;
	char restart_note[400];
	pthread_mutex_t ctl_lock;	/* one control command at a time */
	/*
	 * The dispatcher's (whoever holds the baton): frames posted to the ring
	 * and reaped from it.  Atomic only so that a waiting dispatcher thread
	 * may peek; one writer at a time.
	 */
	_Atomic uint32_t posted, reaped;
	struct qitem *ring_it[MB_RING];
	uint64_t ring_t[MB_RING];	/* when each was posted */
	bool dead_reported;		/* its running frame was failed */
	/* pushed LIFO by producers (seq_cst CAS), taken whole and reversed */
	_Atomic(struct qitem *) inbox __line;
	struct ec ec __line;		/* the executor sleeps here */
	/*
	 * Thread mode: 1 while it sleeps (or is about to) and nobody has
	 * claimed it yet.  A waker claims it (1 -> 0) before waking it, so the
	 * next wake-up goes to an executor still asleep, not to one already
	 * woken that has not run yet.
	 */
	_Atomic uint32_t asleep;
	struct qitem *local __line;	/* executor-private (or the baton holder's), FIFO */
	struct qitem *local_tail;
	_Atomic uint64_t st_completed, st_staged;	/* written by this executor only */
	/* a remote node's (the baton holder writes, its engine reads): each frame's waits */
	struct mb_gate ring_gate[MB_RING] __line;
};

struct pool {
	bool chips;			/* else subs */
	int n;
	struct exec *ex;
	_Atomic uint32_t rr;		/* round robin for unnamed groups (orchestrator) */
	spinlock_t qlock __line;	/* the pool queue: tasks for any executor */
	struct qitem *qhead, *qtail;
	_Atomic uint32_t nsleep __line;	/* executors about to sleep or asleep */
	_Atomic uint32_t nspin;		/* executors spinning for work: they take it, no wake */
	/* process mode: recent time a task spent in a process (the baton holder writes it) */
	_Atomic uint64_t ewma_ns;
	_Atomic bool stalled;		/* shared work waits for a process about to be free */
	/* process mode: the pool's shared ring, as the baton holder sees it */
	struct pool_ring *ring;
	struct qitem *pr_it[PR_FRAMES];	/* the task of each frame; NULL: free */
	uint64_t pr_t[PR_FRAMES];	/* when it was posted */
	uint64_t pr_order;
	unsigned pr_used;		/* frames not free */
};


/* fold one task's time in a process into its pool's average (baton holder) */
static inline void pool_ewma(struct pool *p, uint64_t ns)
{
	uint64_t e = atomic_load_explicit(&p->ewma_ns, memory_order_relaxed);

	atomic_store_explicit(&p->ewma_ns, e + (uint64_t)(((int64_t)ns - (int64_t)e) / 8),
			      memory_order_relaxed);
}

#endif /* SIMPLER_EXEC_H */
