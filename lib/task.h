/* SPDX-License-Identifier: MIT */
/*
 * Tasks, dependency edges, scope frames and runs: what the orchestrator
 * builds at submit and the executors finish.  Fields say who writes them:
 * the orchestrator alone before a task is published, anyone through
 * atomics after (each names what it pairs with).
 */
#ifndef SIMPLER_TASK_H
#define SIMPLER_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/errors.h"
#include "base/sync.h"
#include "base/tensor.h"
#include "include/simpler.h"

/* producers a gated task may wait for (the wire's WIRE_AFTER_MAX, mailbox.h's MB_AFTER) */
#define TASK_GATE_MAX	8

enum task_state {
	TS_FREE,
	TS_BUILDING,	/* the orchestrator is wiring it */
	TS_PENDING,	/* waiting for producers */
	TS_READY,	/* queued on an executor */
	TS_RUNNING,
	TS_DONE,	/* completed */
	TS_FAILED,	/* failed or poisoned */
	TS_CONSUMED,	/* consumers released, slot back on the free list */
};

struct task;

/* consumer waits on producer: linked into the producer's fanout */
struct edge {
	struct edge *next;		/* in the producer's fanout stack */
	struct task *consumer;
	struct edge *owner_next;	/* the consumer's list of its edges */
};

/* a queue entry: one member of a task on one executor */
struct qitem {
	struct qitem *next;
	struct task *task;
	uint32_t member;
};

/* one launch of a task: singles have one member, groups n */
struct member {
	uint32_t t0, nt;		/* tensors [t0, t0 + nt) of the task */
	uint32_t s0, ns;		/* scalars */
	int target;			/* executor index, -1: any */
	struct qitem item;
};

struct tm_ref;
struct frame;
struct run;

struct task {
	/* ---- written by the orchestrator before the task is published ---- */
	struct run *run;
	uint64_t seq;			/* in the run, from 0 */
	struct frame *frame;		/* innermost scope at submit */
	int callable;
	bool sub;			/* runs on the sub pool */
	uint32_t block_dim;
	uint32_t nr_members;
	struct member *members;
	size_t cap_members;
	struct simpler_tensor *tensors;
	uint8_t *acc;			/* enum simpler_access per tensor */
	uint32_t nr_tensors;
	size_t cap_tensors;
	/* per tensor while has_views: a view's strides; [0] == 0 for a plain tensor */
	uint64_t (*strides)[SIMPLER_MAX_DIMS];
	size_t cap_strides;
	bool has_views;
	uint64_t *reg;			/* per tensor: see sx_hostmem_submit() (process mode) */
	bool has_reg;			/* some reg[] is not 0 */
	uint64_t *scalars;
	uint32_t nr_scalars;
	size_t cap_scalars;

	/* ---- shared ---- */
	_Atomic uint32_t state __line;	/* enum task_state */
	/*
	 * Producers not yet finished, plus one while BUILDING.  The orchestrator
	 * increments before an edge becomes visible; finishers decrement; whoever
	 * reaches 0 readies the task.
	 */
	_Atomic int32_t pending;
	/* consumers to release; EDGE_CLOSED once finished (xchg, acq_rel) */
	_Atomic(struct edge *) fanout;
	/* the first failed producer's failure, reference held (CAS from NULL) */
	_Atomic(struct failure *) poison;
	/*
	 * Own failure, written before the final state and the fanout close
	 * (both release it); kept until the slot is recycled, so it, not the
	 * state, says whether a finished task failed.
	 */
	struct failure *failure;
	/* group members that reached their executor / finished */
	_Atomic uint32_t g_arrived, g_done;
	_Atomic(struct failure *) g_fail;	/* first failing member */
	/*
	 * Queued ahead of its producers (set before the building guard goes:
	 * finishers read it after their acq_rel decrement); its result, or
	 * its poison, finishes it, never a producer's release.
	 */
	_Atomic bool gated;
	/* process mode: pushed onto its executor's queue (release, after the push) */
	_Atomic bool queued;
	struct task *free_next;		/* free lists; sx_task_finish()'s worklist */

	/* ---- orchestrator-private: touched while other tasks read this one ---- */
	struct edge *edges __line;	/* edges owned as consumer */
	struct tm_ref *refs;		/* TensorMap registrations */
	uint32_t nr_refs;
	size_t cap_refs;
	uint64_t stamp;			/* edge de-duplication: the wiring consumer's */
};

#define EDGE_CLOSED ((struct edge *)1)

/* tensor i's strides if it is a view, else NULL (a plain, row-major tensor) */
static inline const uint64_t *task_strides(const struct task *t, uint32_t i)
{
	return sx_strides_at(t->has_views ? (const uint64_t (*)[SIMPLER_MAX_DIMS])t->strides : NULL,
			     i);
}

/*
 * Poison consumer c with failure f (a reference is taken): the first poison
 * wins.  Release: whoever takes c's poison with an acquire load (the
 * finisher that readies c) sees the failure's message.
 */
static inline void task_poison(struct task *c, struct failure *f)
{
	struct failure *expected = NULL;

	failure_get(f);
	if (!atomic_compare_exchange_strong_explicit(&c->poison, &expected, f,
						     memory_order_release, memory_order_relaxed))
		sx_failure_put(f);
}

/* ---- runs and scopes ---- */

/*
 * A scope frame: alive while open, while any task submitted in it runs, and
 * while any child frame is alive.  Its simpler_orch_alloc() memory is freed
 * when it dies.
 */
/*
 * refs starts at FRAME_BIAS while open; finishing tasks and dying children
 * subtract 1 each, and closing subtracts FRAME_BIAS minus what the
 * orchestrator counted into it, so submit never touches the shared counter.
 */
#define FRAME_BIAS (1LL << 62)

struct frame {
	_Atomic int64_t refs __line;	/* finishers */
	int64_t counted __line;		/* orchestrator-private: tasks + children */
	struct frame *parent;
	struct frame *done_next;	/* the worker's dead-frame stack */
	struct arena_block *allocs;	/* orchestrator-private */
	uint32_t depth;
};

/*
 * inflight starts at RUN_BIAS; each finished task subtracts 1 and the
 * closing orchestrator subtracts RUN_BIAS minus what it submitted, so it
 * reaches 0 exactly when the last task finished, and submit never touches it.
 */
#define RUN_BIAS (1ULL << 62)

struct run {
	_Atomic uint64_t inflight __line;	/* finishers */
	struct ec done_ec;
	/* the first failure (CAS from NULL, reference held); read per submit */
	_Atomic(struct failure *) first __line;
	uint64_t submitted __line;		/* orchestrator-private */
	uint64_t next_seq;
};

#endif /* SIMPLER_TASK_H */
