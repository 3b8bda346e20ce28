/* SPDX-License-Identifier: MIT */
/*
 * The worker: everything hangs off struct simpler_worker (no global
 * mutable state).  Threads and what they own:
 * - the application thread running simpler_run() is the orchestrator: it
 *   alone touches the TensorMap, the arena, the slot free list and the edge
 *   pool, and it alone recycles task slots;
 * - one executor thread per chip and per sub (thread mode), or one
 *   dispatcher for every process (process mode), runs work and finishes
 *   it: publishes completion, readies consumers, releases frames, returns
 *   the slot to a shared free stack.
 * Cross-thread state is atomic; every atomic says what it pairs with.
 */
#ifndef SIMPLER_WORKER_H
#define SIMPLER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../platform/platform.h"
#include "base/compiler.h"
#include "base/errors.h"
#include "base/opts.h"
#include "base/sync.h"
#include "chip/env.h"
#include "exec.h"
#include "include/simpler.h"
#include "mailbox.h"
#include "task.h"

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

_Static_assert(2 * MAX_EXECS <= MAX_PROCS, "every chip and sub has a slot in the chip env");

/* set w's message (the thread's last message when w is NULL); returns err */
#define werr(w, err, ...) sx_errf(worker_errbuf(w), (err), __VA_ARGS__)

struct tensormap;
struct arena;
struct sx_remote;
struct hostmem;

struct simpler_orch {
	struct simpler_worker *w;
	struct frame *scope;		/* innermost open frame */
	uint32_t depth;			/* open frames, the run's outer one included */
	bool active;			/* inside simpler_run() */
};

/*
 * Level 4: what every node process gets to create its L3 worker (l4.c fills
 * it before the fork, the worker owns it; a respawned node reads it again).
 */
struct sx_nodes {
	const struct shared_callables *ctab;	/* the L4's: its kernels reach every node */
	bool threads;				/* nodes run in the L4's own process */
	int n;
	int nlocal;				/* nodes 0..nlocal-1 are forked here, the rest
						   are ranks 1.. of an mpirun job (remote.c) */
	struct simpler_worker_opts opts[MAX_EXECS];
	char platform[MAX_EXECS][32];
};

struct simpler_worker {
	char errmsg[ERRMSG_LEN];
	const struct simpler_platform_ops *plat;
	struct simpler_platform_cfg pcfg;
	unsigned caps;
	unsigned flags;
	bool nodes;		/* level 4: the chip pool holds L3 nodes */
	struct sx_nodes *ncfg;	/* level 4: their options */
	struct sx_remote *remote;	/* level 4 under mpirun: the remote nodes' engine */
	/*
	 * How the orchestrator waits for its run's last tasks, where the level
	 * above says (the remote engine: sx_remote_drive()); NULL: in process
	 * mode it dispatches itself (SCHED_HELP_UNTIL) until done(w), in
	 * thread mode it waits.
	 */
	void (*drain)(struct simpler_worker *w, bool (*done)(struct simpler_worker *w));
	/*
	 * Work was posted to a remote node's mailbox (or a command to it):
	 * the L4's MPI engine is told at once (it may be dozing; remote.c).
	 */
	void (*kick)(struct simpler_worker *w);
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
	_Atomic int32_t nr_free_shared;	/* about how many: raised after each push */
	/*
	 * Free slots the orchestrator waits for (0: it does not wait): a batch,
	 * so that it does not wake for every task that finishes while all
	 * slots are in flight; the finisher that makes it wakes it.
	 */
	_Atomic int32_t slot_want;
	struct ec slot_ec;

	/* the orchestrator's hot state */
	struct task *free_local __line;	/* recycled slots, taken first */
	struct task *free_fresh;	/* slots never used yet: see slot_get() */
	struct simpler_orch orch;
	uint64_t orch_stamp;			/* per-submit stamp for edge de-duplication */
	_Atomic uint64_t st_submitted, st_edges, st_fast, st_slow, st_submit_waits;
	_Atomic uint64_t st_slots_used;	/* fresh slots taken */

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
	/* the remote nodes' engine's (remote.c) */
	_Atomic uint64_t st_to_nodes, st_from_nodes, st_transfers, st_hits, st_lost, st_ahead;
};

static inline char *worker_errbuf(const struct simpler_worker *w)
{
	return w ? (char *)w->errmsg : NULL;
}

/* what an executor of pool p is called in messages: "chip", "node" or "sub" */
static inline const char *pool_kind(const struct simpler_worker *w, const struct pool *p)
{
	return !p->chips ? "sub" : w->nodes ? "node" : "chip";
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

/* the baton holder's clock: one reading serves a whole dispatch pass */
static inline uint64_t pass_clock(struct simpler_worker *w)
{
	if (!w->pass_ns)
		w->pass_ns = now_ns();
	return w->pass_ns;
}

/* chip i goes onto the i-th usable CPU, unless there are more chips than CPUs or NO_BIND */
static inline bool worker_binds_chips(const struct simpler_worker *w)
{
	return !(w->flags & SIMPLER_WORKER_NO_BIND) && w->chips.n <= w->ncpus;
}

/*
 * Node memory of an L4's remote node: an address names its node (above
 * NODE_MEM_SHIFT) and an offset into that node's arena, nothing a pointer
 * means anywhere.  Node n's addresses are ((n + 1) << NODE_MEM_SHIFT) + off.
 */
#define NODE_MEM_SHIFT	44
#define NODE_MEM_MAX	(1ULL << NODE_MEM_SHIFT)

static inline int node_mem_owner(uint64_t addr)
{
	return (int)(addr >> NODE_MEM_SHIFT) - 1;
}

static inline uint64_t node_mem_off(uint64_t addr)
{
	return addr & (NODE_MEM_MAX - 1);
}

static inline uint64_t node_mem_addr(int node, uint64_t off)
{
	return ((uint64_t)(node + 1) << NODE_MEM_SHIFT) + off;
}

/* node (chip pool index) i of an L4 is another rank's */
static inline bool node_remote(const struct simpler_worker *w, int i)
{
	return w->nodes && i >= 0 && i < w->chips.n && w->chips.ex[i].remote;
}

/*
 * Create a worker from checked options (sx_opts_in() passed).  Level 4:
 * nplat runs the nodes and ncfg says how; the worker owns ncfg from here,
 * failure or not.  NULL, NULL: an L3.
 */
int sx_worker_create(const struct simpler_worker_opts *o, const struct simpler_platform_ops *nplat,
		     struct sx_nodes *ncfg, struct simpler_worker **out);
/* stop and free w (no run in progress) */
void sx_worker_destroy(struct simpler_worker *w);
/* register fn under name as a callable of kind (enum callable_kind): its id */
int sx_register(struct simpler_worker *w, const char *name, const void *fn, unsigned kind);

/* for tests (not exported): processes forked by the library so far */
extern _Atomic unsigned long sx_forks;

static inline uint32_t nr_callables(const struct simpler_worker *w)
{
	return callables_count(w->ctab);
}

#endif /* SIMPLER_WORKER_H */
