/* SPDX-License-Identifier: MIT */
/*
 * One shared-memory mailbox per chip or sub process, mapped before the
 * fork, with two independent lanes, so control commands (malloc, free,
 * copies) never race a task:
 *
 * - the task lane is a ring of MB_RING frames: the parent's dispatcher
 *   fills frame posted % MB_RING and bumps posted (seq_cst); the child runs
 *   frames in order, writes each one's result into it and bumps done
 *   (seq_cst), then wakes the dispatcher (struct proc_shared);
 * - the control lane is one frame and a state word the parent sets to
 *   POSTED and the child to DONE; the caller waits on parent_ec.
 *
 * Work for any chip (or any sub) goes through one more ring, shared by every
 * process of the pool (struct pool_ring): the dispatcher posts up to
 * PR_FRAMES ready tasks there, and whichever process is free first claims
 * the oldest, runs it and marks it done; the dispatcher reaps it later.  So
 * a free process never waits for the dispatcher while such work is ready,
 * and a busy one never holds it.  A process serves its own ring first.
 *
 * The child sleeps on child_ec.  Every eventcount here is process-shared:
 * waiters spin briefly, then sleep on a futex.
 */
#ifndef SIMPLER_MAILBOX_H
#define SIMPLER_MAILBOX_H

#include <stdint.h>

#include "base/sync.h"
#include "include/simpler.h"

#define MB_MSG		1024		/* error messages: at least 512 bytes, with where */
#define MB_WINDOW	(1U << 20)	/* copy window for copy_to/copy_from chunks */
/*
 * Task frames in flight per child.  16, not 8: an L4 keeps a remote node's
 * work in such a ring, and beside two busy processes every ring's worth of
 * a chain cost a wake-up of rank 0 and one of the node's rank (chains of
 * 1000 52-64 us a task with 8 frames, 20-35 with 16, on a 2-CPU host).
 */
#define MB_RING		16
#define PR_FRAMES	32		/* task frames in a pool's shared ring */
#define MB_AFTER	8		/* producers a frame may wait for (TASK_GATE_MAX) */

enum mb_state { MB_IDLE, MB_POSTED, MB_DONE };
enum mb_boot { MB_BOOTING, MB_READY, MB_FAILED };

enum mb_op {
	MB_OP_PING,
	MB_OP_ALLOC,		/* a0 = bytes -> r0 = chip address */
	MB_OP_FREE,		/* a0 = chip address */
	MB_OP_COPY_TO,		/* a0 = chip address, a1 = bytes (in the window) */
	MB_OP_COPY_FROM,	/* a0 = chip address, a1 = bytes (into the window) */
	MB_OP_CHECK,		/* a0 = chip address, a1 = bytes: inside one allocation? */
	MB_OP_UNMAP,		/* a0 = simpler.ko handle: drop this process's mapping */
	MB_OP_PINGPONG,		/* remote nodes: a0 bytes, a1 round trips -> r0 = ns */
	MB_OP_PEERPING,		/* the same with node a1 >> 32 (round trips: its low half) */
};

struct mb_task {
	uint64_t seq;
	int32_t ran_on;			/* pool ring: the slot of the process that ran it */
	int32_t callable;
	uint32_t block_dim, nr_tensors, nr_scalars;
	uint32_t has_reg;		/* reg[] is set (else not even read) */
	uint32_t has_views;		/* strides[] is set (else not even read) */
	struct simpler_tensor tensors[SIMPLER_MAX_TENSORS];
	uint8_t acc[SIMPLER_MAX_TENSORS];
	/* per tensor of a registered buffer: see chip/hostmap.h; 0 for the others */
	uint64_t reg[SIMPLER_MAX_TENSORS];
	uint64_t scalars[SIMPLER_MAX_SCALARS];
	/* result */
	int32_t err;
	uint64_t staged;
	char msg[MB_MSG];
	/* per tensor: a view's strides, [0] == 0 for a plain tensor (the task's) */
	uint64_t strides[SIMPLER_MAX_TENSORS][SIMPLER_MAX_DIMS];
};

/*
 * Beside a remote node's own-ring frame, in the L4's memory (its engine
 * reads it; no child sees it): a task posted ahead of its producers
 * (sched.c) runs after the frames of these seqs, posted before it to the
 * same node, and only if they succeed; poisoned: a producer already
 * failed.
 */
struct mb_gate {
	uint32_t nr_after, poisoned;
	uint64_t after[MB_AFTER];
};

struct mb_ctl {
	uint32_t op;
	uint64_t a0, a1;
	/* result */
	int32_t err;
	uint64_t r0;
	char msg[MB_MSG];
};

struct mailbox {
	uint32_t kind;			/* 1 chip, 0 sub */
	int32_t index;
	_Atomic uint32_t boot;		/* enum mb_boot, set once by the child */
	char boot_msg[MB_MSG];
	_Atomic uint32_t shutdown;	/* sticky */
	uint32_t booted;		/* a chip bootstrapped here once: restarts only re-attach */
	struct ec child_ec __attribute__((aligned(64)));	/* the child waits here */
	struct ec parent_ec __attribute__((aligned(64)));	/* control callers wait here */
	_Atomic uint32_t posted __attribute__((aligned(64)));	/* frames published */
	_Atomic uint32_t done __attribute__((aligned(64)));	/* frames finished */
	_Atomic uint32_t claimed;	/* runs a frame of its pool's shared ring now: 1, else 0 */
	struct mb_task task[MB_RING];
	_Atomic uint32_t ctl_state __attribute__((aligned(64)));
	struct mb_ctl ctl;
	char window[MB_WINDOW] __attribute__((aligned(64)));
};

/*
 * The callable table, also shared: registrations made after the fork reach
 * the children through it.  A child resolves fn itself: if the address lies
 * in the same object at the same load address there, it is used as is;
 * otherwise the object is loaded and fn found at its offset.
 */
enum callable_kind { CALLABLE_KERNEL, CALLABLE_NODE_FN };

struct shared_callable {
	char name[64];
	uint32_t kind;			/* enum callable_kind */
	uint64_t fn;			/* address in the parent */
	uint64_t obj_base;		/* load address of its object in the parent */
	char obj[256];			/* path of that object ("" for the main program) */
};

/* what a callable is called in messages: "kernel" or "node fn" */
static inline const char *callable_word(const struct shared_callable *c)
{
	return c->kind == CALLABLE_NODE_FN ? "node fn" : "kernel";
}

/* pool ring frame states; a claimed frame holds PR_CLAIMED + the claimer's slot */
enum pr_state { PR_FREE, PR_POSTED, PR_DONE, PR_CLAIMED };

struct pool_ring {
	_Atomic uint32_t avail __attribute__((aligned(64)));	/* frames POSTED, not claimed */
	uint32_t nkids;			/* processes of the pool */
	_Atomic uint32_t state[PR_FRAMES] __attribute__((aligned(64)));
	uint64_t order[PR_FRAMES];	/* posting order: the oldest is claimed first */
	struct mb_task task[PR_FRAMES];
};

/* shared by the parent and every child */
struct proc_shared {
	struct pool_ring ring[2];	/* work for any chip [0], any sub [1] */
	struct ec disp_ec __attribute__((aligned(64)));	/* the dispatcher sleeps here */
	_Atomic uint32_t spinners __attribute__((aligned(64)));	/* children spinning idle */
	uint32_t spin_budget;		/* how many may: online CPUs - 1, at least 1 */
	uint32_t ncpus;			/* usable CPUs */
	/*
	 * Runnable tasks of other programs at the last look (the baton holder
	 * reads /proc/loadavg every few ms): a spinner must leave a CPU for
	 * them, for our running processes and for whoever it waits for.
	 */
	_Atomic uint32_t others;
	/*
	 * A child that finished a frame wakes the dispatcher thread only while
	 * it is on duty (the orchestrator left work waiting for completions)
	 * and the orchestrator is not dispatching at the end of a run.
	 */
	_Atomic uint32_t duty __attribute__((aligned(64)));
	_Atomic uint32_t helping;
};

#define MAX_CALLABLES 1024

/*
 * Processes running a frame now (or about to: one is posted to them): own
 * rings with frames not done, and claimed frames of the shared rings.  A
 * hint for spin decisions: relaxed loads, read by the parent and children.
 */
static inline unsigned procs_running(struct proc_shared *ps, struct mailbox *const *mb, int n)
{
	unsigned busy = 0;
	int i;

	for (i = 0; i < n; i++)
		busy += (atomic_load_explicit(&mb[i]->posted, memory_order_relaxed) !=
			 atomic_load_explicit(&mb[i]->done, memory_order_relaxed)) +
			atomic_load_explicit(&mb[i]->claimed, memory_order_relaxed);
	return busy;
}

struct shared_callables {
	_Atomic uint32_t count;		/* entries below it are complete (release) */
	struct shared_callable v[MAX_CALLABLES];
};

/* the callables registered so far: entries below the count are complete */
static inline uint32_t callables_count(const struct shared_callables *t)
{
	/* pairs with the release store of the count in simpler_register() */
	return atomic_load_explicit(&t->count, memory_order_acquire);
}

/* claim the oldest frame posted in the pool's shared ring: its index, or -1 */
static inline int mb_pool_claim(struct pool_ring *r, uint32_t slot)
{
	uint32_t posted;
	int i, best;

	/* acquire: pairs with the dispatcher's seq_cst add to avail after a post */
	while (atomic_load_explicit(&r->avail, memory_order_acquire)) {
		best = -1;
		for (i = 0; i < PR_FRAMES; i++)
			/* acquire: the frame and its order were written before */
			if (atomic_load_explicit(&r->state[i], memory_order_acquire) == PR_POSTED &&
			    (best < 0 || r->order[i] < r->order[best]))
				best = i;
		if (best < 0)
			return -1;
		posted = PR_POSTED;
		if (atomic_compare_exchange_strong_explicit(&r->state[best], &posted,
							    PR_CLAIMED + slot, memory_order_acq_rel,
							    memory_order_relaxed)) {
			atomic_fetch_sub_explicit(&r->avail, 1, memory_order_relaxed);
			return best;
		}
	}
	return -1;
}


/*
 * A process (or the L4's engine, standing in for a remote node) finished
 * frame consumed - 1 of its own ring: publish it, then wake the dispatcher
 * thread if it is on duty (the seq_cst RMW orders the result before the
 * dispatcher's waiter check).
 */
static inline void mb_disp_wake(struct proc_shared *ps)
{
	if (atomic_load_explicit(&ps->duty, memory_order_seq_cst) &&
	    !atomic_load_explicit(&ps->helping, memory_order_relaxed))
		ec_notify_after_rmw(&ps->disp_ec);
}

static inline void mb_own_done(struct proc_shared *ps, struct mailbox *mb, uint32_t consumed)
{
	atomic_exchange_explicit(&mb->done, consumed, memory_order_seq_cst);
	mb_disp_wake(ps);
}

/*
 * The same for frame i of a pool's shared ring, claimed through mb.  The
 * dispatcher has reaping and refilling to do, but the others are fed while
 * at least one frame each is waiting: it is woken only when the ring runs
 * low.
 */
static inline void mb_pool_done(struct proc_shared *ps, struct pool_ring *r, int i,
				struct mailbox *mb)
{
	/* seq_cst RMW: the result is published, then the dispatcher's waiter check */
	atomic_exchange_explicit(&r->state[i], PR_DONE, memory_order_seq_cst);
	atomic_store_explicit(&mb->claimed, 0, memory_order_relaxed);
	if (atomic_load_explicit(&r->avail, memory_order_relaxed) < r->nkids &&
	    atomic_load_explicit(&ps->duty, memory_order_seq_cst) &&
	    !atomic_load_explicit(&ps->helping, memory_order_relaxed))
		ec_notify_after_rmw(&ps->disp_ec);
}

#endif /* SIMPLER_MAILBOX_H */
