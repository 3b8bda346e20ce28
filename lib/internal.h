/* SPDX-License-Identifier: MIT */
/*
 * libsimpler internals: the worker, tasks, runs, scope frames, executors.
 *
 * Threads and what they own:
 * - the application thread running simpler_run() is the orchestrator: it
 *   alone touches the TensorMap, the arena, the slot free list and the edge
 *   pool, and it alone recycles task slots;
 * - one executor thread per chip and per sub pops work, runs it and finishes
 *   it: publishes completion, readies consumers, releases frames, returns
 *   the slot to a shared free stack.
 * Cross-thread state is atomic; every atomic says what it pairs with.
 */
#ifndef SIMPLER_INTERNAL_H
#define SIMPLER_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "../platform/platform.h"
#include "base/compiler.h"
#include "base/errors.h"
#include "base/opts.h"
#include "base/tensor.h"
#include "chip/env.h"
#include "chip/launch.h"
#include "include/simpler.h"
#include "mailbox.h"
#include "base/sync.h"

#define MAX_EXECS		64	/* chips, and subs */
#define CALLABLE_NAME_LEN	64
#define MAX_SCOPE_DEPTH		64
#define DEFAULT_RING_SIZE	4096
#define DEFAULT_ARENA_SIZE	((uint64_t)256 << 20)
#define DEFAULT_CHIP_MEM	((uint64_t)1 << 30)
#define DEFAULT_CORES		4
#define DEFAULT_SPIN_US		50
/* the longest a dispatcher thread stands by while the orchestrator is away */
#define STANDBY_MIN_NS		200000
#define DEFAULT_START_TIMEOUT_MS 10000
#define DEFAULT_COMM_TIMEOUT_MS	10000
#define DEFAULT_MIRROR_SIZE	((uint64_t)16 << 30)


/* set w's message (the thread's last message when w is NULL); returns err */
#define werr(w, err, ...) sx_errf(worker_errbuf(w), (err), __VA_ARGS__)

/* ---- tasks ---- */

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
	struct task *free_next;		/* free lists; sx_task_finish()'s worklist */

	/* ---- orchestrator-private: touched while other tasks read this one ---- */
	struct edge *edges __line;	/* edges owned as consumer */
	struct tm_ref *refs;		/* TensorMap registrations */
	uint32_t nr_refs;
	size_t cap_refs;
	uint64_t stamp;			/* edge de-duplication: the wiring consumer's */
};

#define EDGE_CLOSED ((struct edge *)1)

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

/* ---- executors ---- */

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
	char tag[48];			/* "chip 1 (pid 4242)" */
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

struct tensormap;
struct arena;
struct hostmem;

struct simpler_orch {
	struct simpler_worker *w;
	struct frame *scope;		/* innermost open frame */
	uint32_t depth;			/* open frames, the run's outer one included */
	bool active;			/* inside simpler_run() */
};

struct simpler_worker {
	char errmsg[ERRMSG_LEN];
	const struct simpler_platform_ops *plat;
	struct simpler_platform_cfg pcfg;
	unsigned caps;
	unsigned flags;
	uint64_t spin_ns;
	int ncpus;		/* CPUs this process may run on, at create */

	_Atomic bool stop;		/* read in every idle poll: written once */
	struct pool chips, subs;
	pthread_mutex_t group_lock;	/* groups enter executor queues atomically */
	struct ec group_ec;		/* group members wait here for each other */

	/* callables: append-only, shared with the children, count published with release */
	struct shared_callables *ctab;
	pthread_mutex_t reg_lock;

	/* process mode */
	bool mode_threads;
	uint32_t start_timeout_ms;
	int proc_evfd;				/* wakes the monitor */
	pthread_mutex_t proc_lock;		/* pidfds and deaths */
	_Atomic bool proc_stop;
	pthread_t monitor;
	bool monitor_started;
	struct proc_shared *pshared;		/* the dispatcher's eventcount */
	struct chip_env env;			/* what the children get */
	pthread_t disp;				/* the dispatcher thread */
	bool disp_started;
	/*
	 * Whoever holds the baton dispatches: the dispatcher thread, or the
	 * orchestrator, which does it itself at the end of a run and when it
	 * submits while the dispatcher thread sleeps (no thread to wake).
	 */
	_Atomic bool baton __line;
	/*
	 * Bumped by the orchestrator as it dispatches; a dispatcher thread
	 * standing by takes over when it stops moving for standby_ns.
	 */
	_Atomic uint64_t beat __line;
	uint64_t standby_ns;
	uint64_t pass_ns;	/* the baton holder's clock, read once a pass (0: not yet) */
	int loadavg_fd;		/* /proc/loadavg, read every few ms by whoever waits */
	_Atomic uint64_t load_ns;	/* when it was read last */
	_Atomic uint32_t others;	/* other programs' runnable tasks, at that look */
	struct hostmem *hm;
	struct boot *boot;		/* chip bootstrap configs and comm domains, or NULL */

	/* task slots */
	struct task *tasks;
	uint32_t ring_size;
	_Atomic bool running;
	_Atomic(struct task *) free_shared __line;	/* pushed by finishers */
	struct ec slot_ec;

	/* the orchestrator's hot state */
	struct task *free_local __line;
	struct simpler_orch orch;
	uint64_t orch_stamp;			/* per-submit stamp for edge de-duplication */
	_Atomic uint64_t st_submitted, st_edges, st_fast, st_slow, st_submit_waits;

	struct run run;

	/* scope frames */
	struct frame *frame_pool;		/* orchestrator-private */
	_Atomic(struct frame *) frames_dead __line;	/* pushed by finishers */
	_Atomic uint32_t frames_closed;		/* ended but not yet dead */
	struct ec frame_ec;

	/* dependency tracking, orchestrator-private */
	struct tensormap *tm;
	struct edge *edge_pool;
	struct arena *arena;

	pthread_mutex_t mem_lock;		/* protects the host buffer table */

	_Atomic uint64_t st_failed __line;	/* any thread, on failures only */
	_Atomic uint64_t st_host_copied, st_restarts;	/* the orchestrator's */
};

static inline char *worker_errbuf(const struct simpler_worker *w)
{
	return w ? (char *)w->errmsg : NULL;
}

/* process mode: the executor of process slot (chips first, then subs) */
static inline struct exec *slot_exec(struct simpler_worker *w, int slot)
{
	return slot < w->chips.n ? &w->chips.ex[slot] : &w->subs.ex[slot - w->chips.n];
}

static inline int nslots(const struct simpler_worker *w)
{
	return w->chips.n + w->subs.n;
}

/* its process died (the monitor says so) */
static inline bool exec_dead(struct exec *ex)
{
	/* pairs with the monitor's store of dead, made after it wrote death */
	return atomic_load_explicit(&ex->dead, memory_order_acquire);
}

/* ---- between the files ---- */

/* for tests (not exported): processes forked by the library so far */
extern _Atomic unsigned long sx_forks;

/* sched.c */
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
		sx_sched_present(w);                                                     \
		while (!(cond)) {                                                     \
			sched_beat(w);                                                \
			if (sx_sched_help(w)) {                                          \
				__idle = 0;                                           \
			} else if (++__idle % 32) {                                   \
				cpu_relax();                                          \
			} else if (__idle == 32) {                                    \
				__since = now_ns();  /* idle from here */             \
				__spin = sx_sched_spin_ns(w);                            \
			} else if (now_ns() - __since >= __spin) {                    \
				break;                                                \
			}                                                             \
		}                                                                     \
		if ((leave) || !(cond))                                               \
			sx_sched_let_go(w);                                              \
	} while (0)
/* the baton holder's clock: one reading serves a whole dispatch pass */
/* fold one task's time in a process into its pool's average (baton holder) */
static inline void pool_ewma(struct pool *p, uint64_t ns)
{
	uint64_t e = atomic_load_explicit(&p->ewma_ns, memory_order_relaxed);

	atomic_store_explicit(&p->ewma_ns, e + (uint64_t)(((int64_t)ns - (int64_t)e) / 8),
			      memory_order_relaxed);
}
static inline uint64_t pass_clock(struct simpler_worker *w)
{
	if (!w->pass_ns)
		w->pass_ns = now_ns();
	return w->pass_ns;
}
/* the orchestrator is here and dispatches itself: the dispatcher thread stands by */
void sx_sched_present(struct simpler_worker *w);
/* the orchestrator's heartbeat, which keeps the dispatcher thread standing by */
static inline void sched_beat(struct simpler_worker *w)
{
	atomic_store_explicit(&w->beat, atomic_load_explicit(&w->beat, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}
bool sx_sched_help(struct simpler_worker *w);
/* chip i goes onto the i-th usable CPU, unless there are more chips than CPUs or NO_BIND */
static inline void sched_bind_chip(const struct simpler_worker *w, int i)
{
	if (!(w->flags & SIMPLER_WORKER_NO_BIND) && w->chips.n <= w->ncpus)
		sync_bind_nth(i);
}
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
void sx_task_finish(struct task *t, struct failure *f, struct exec *ex);
void sx_frame_put(struct simpler_worker *w, struct frame *f, int64_t n);

/* proc.c: the processes */
int sx_proc_create(struct simpler_worker *w);
void sx_proc_destroy(struct simpler_worker *w);
int sx_proc_respawn(struct simpler_worker *w);

/* lanes.c: the dispatcher's side of a mailbox (sched.c runs it) */
void sx_lane_post(struct exec *ex, struct qitem *it);
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

/* orch.c */
void sx_orch_reclaim(struct simpler_worker *w);
void sx_orch_free_all(struct simpler_worker *w);


static inline uint32_t nr_callables(const struct simpler_worker *w)
{
	return callables_count(w->ctab);
}

#endif /* SIMPLER_INTERNAL_H */
