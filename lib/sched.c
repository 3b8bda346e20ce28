// SPDX-License-Identifier: MIT
/*
 * The scheduler: executor queues and threads, readiness and completion.
 *
 * There is no scheduler thread.  A task becomes ready on the thread that
 * releases its last producer (the orchestrator at submit, or the executor
 * that finished the producer) and goes straight into a queue:
 * - a task naming an executor goes into that executor's queue, so a busy
 *   chip never delays work for another chip;
 * - a task for any executor goes into its pool's queue, taken by whichever
 *   executor of the pool is free first;
 * - sub tasks live in the sub pool: chip work never delays them;
 * - a group puts one entry per member into its chips' queues, all under one
 *   lock, so every chip sees groups in the same order (no deadlock).  A chip
 *   that reaches a group entry waits there for its peers: it is reserved.
 * Thread mode: each executor thread runs what it pops and finishes it.
 * Idle executors spin briefly, then sleep on their eventcount.
 *
 * Process mode: one dispatcher thread serves every chip and sub process.
 * It drains the same queues into the processes' mailbox rings (up to
 * MB_RING frames each, so a process runs queued work back to back), reaps
 * their results and finishes the tasks.  Work for any executor goes only to
 * an idle process, so a busy chip still never delays it; a group is posted
 * when every one of its chips has it at the head of its queue and nothing
 * in flight, so its members start together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lanes.h"
#include "mailbox.h"
#include "scheduler.h"

/* ---- queues ---- */

static void q_append(spinlock_t *lock, struct qitem **head, struct qitem **tail,
		     struct qitem *it)
{
	it->next = NULL;
	spin_lock(lock);
	if (*tail)
		(*tail)->next = it;
	else
		__atomic_store_n(head, it, __ATOMIC_RELEASE);
	*tail = it;
	spin_unlock(lock);
}

/* is the queue worth a look?  a racy hint; the lock decides */
static inline bool q_nonempty(struct qitem *const *head)
{
	return __atomic_load_n(head, __ATOMIC_ACQUIRE) != NULL;
}

/*
 * Tests built with SX_TEST_RACE_WINDOWS widen the windows a lost wake-up
 * would need (make check runs a stress test against such a build): a
 * thread stops there for a moment every time, as a preemption would.
 */
#ifdef SX_TEST_RACE_WINDOWS
#define RACE_WINDOW() usleep(20)
#else
#define RACE_WINDOW() do { } while (0)
#endif

/* this thread holds the baton: what it queues, it dispatches itself */
static __thread bool dispatching;

/*
 * Thread mode, work for any executor: wake ex if it sleeps and nobody
 * claimed it yet; true if this call claimed it.  The work is published
 * (seq_cst) before the claim.  A claim may land before ex announced itself
 * on its eventcount (the notify then wakes nobody): ex looks at the pool
 * after announcing, so work of the pool is not lost, but ex then sleeps
 * claimed; see exec_kick().
 */
static bool exec_wake(struct exec *ex)
{
	uint32_t one = 1;

	if (!atomic_compare_exchange_strong_explicit(&ex->asleep, &one, 0, memory_order_seq_cst,
						     memory_order_relaxed))
		return false;
	ec_notify_after_rmw(&ex->ec);
	return true;
}

/*
 * Thread mode, work named for ex (published by a seq_cst RMW): wake it if
 * it waits, claimed or not.  Going through exec_wake() lost the wake-up
 * when a claim for pool work had landed just before ex slept: its own work
 * then waited while every executor slept (a run hung).  The exchange keeps
 * the claim protocol (pool wake-ups go to another sleeper), the notify
 * checks waiters whatever it finds.
 */
static void exec_kick(struct exec *ex)
{
	atomic_exchange_explicit(&ex->asleep, 0, memory_order_seq_cst);
	ec_notify_after_rmw(&ex->ec);
}

/* work for any executor of p: wake one that sleeps, if any */
static void pool_notify(struct pool *p)
{
	int i;

	if (p->n && !p->ex[0].w->mode_threads)
		return;		/* sx_sched_submitted() decides who dispatches it */
	/* pairs with the seq_cst updates of nspin and nsleep in exec_wait() */
	atomic_thread_fence(memory_order_seq_cst);
	/* a spinner takes it (it looks again before it sleeps): waking one costs more */
	if (atomic_load_explicit(&p->nspin, memory_order_relaxed) ||
	    !atomic_load_explicit(&p->nsleep, memory_order_relaxed))
		return;
	for (i = 0; i < p->n; i++)
		if (exec_wake(&p->ex[i]))
			return;
}

/* push onto an executor's inbox; the caller notifies it */
static void inbox_push(struct exec *ex, struct qitem *it)
{
	struct qitem *head = atomic_load_explicit(&ex->inbox, memory_order_relaxed);

	do {
		it->next = head;
		/* seq_cst: orders the push before the waiter check in the notify */
	} while (!atomic_compare_exchange_weak_explicit(&ex->inbox, &head, it,
							memory_order_seq_cst,
							memory_order_relaxed));
}

static void exec_push(struct exec *ex, struct qitem *it)
{
	if (dispatching) {
		/* the dispatcher owns the local FIFOs: no atomics, nobody to wake */
		it->next = NULL;
		if (ex->local)
			ex->local_tail->next = it;
		else
			ex->local = it;
		ex->local_tail = it;
		return;
	}
	inbox_push(ex, it);
	if (ex->w->mode_threads)
		exec_kick(ex);
	/* process mode: sx_sched_submitted() decides who dispatches it */
}

/* the whole inbox, reversed into submission order, goes behind the local FIFO */
static void inbox_drain(struct exec *ex)
{
	struct qitem *s, *n, *first = NULL, *last;

	if (!atomic_load_explicit(&ex->inbox, memory_order_relaxed))
		return;
	/* acquire: pairs with the pushers' CAS, which published each item */
	s = atomic_exchange_explicit(&ex->inbox, NULL, memory_order_acquire);
	for (last = s; s; s = n) {
		n = s->next;
		s->next = first;
		first = s;
	}
	if (ex->local)
		ex->local_tail->next = first;
	else
		ex->local = first;
	ex->local_tail = last;
}

static struct qitem *local_pop(struct exec *ex)
{
	struct qitem *it = ex->local;

	if (it)
		ex->local = it->next;	/* local_tail is stale once empty: drain resets it */
	return it;
}

/* the pool queue's head, or NULL */
static struct qitem *pool_pop(struct pool *p)
{
	struct qitem *it;

	if (!q_nonempty(&p->qhead))
		return NULL;
	spin_lock(&p->qlock);
	it = p->qhead;
	if (it) {
		__atomic_store_n(&p->qhead, it->next, __ATOMIC_RELAXED);
		if (!it->next)
			p->qtail = NULL;
	}
	spin_unlock(&p->qlock);
	return it;
}

static void pool_push(struct pool *p, struct qitem *it)
{
	q_append(&p->qlock, &p->qhead, &p->qtail, it);
	pool_notify(p);
}

/* ---- readiness and completion ---- */

static void enqueue(struct task *t)
{
	struct simpler_worker *w = container_of(t->run, struct simpler_worker, run);
	struct pool *p = t->sub ? &w->subs : &w->chips;
	uint32_t i;

	atomic_store_explicit(&t->state, TS_READY, memory_order_relaxed);
	if (t->nr_members == 1) {
		/* before the push: once pushed, t may finish and its slot be reused */
		bool mark = !t->sub && node_remote(w, t->members[0].target);

		if (t->members[0].target < 0 && p->n > 1)
			pool_push(p, &t->members[0].item);
		else if (t->members[0].target < 0)	/* a pool of one: its inbox */
			exec_push(&p->ex[0], &t->members[0].item);
		else
			exec_push(&p->ex[t->members[0].target], &t->members[0].item);
		/*
		 * release: after the push, for a consumer gating on t (orch.c):
		 * a remote node's task only.  Remote nodes mean process mode,
		 * where t finishes on the baton holder or after the
		 * orchestrator's next look, never under this store.
		 */
		if (mark)
			atomic_store_explicit(&t->queued, true, memory_order_release);
		return;
	}
	/* a group: into every target queue at once, in one global order */
	pthread_mutex_lock(&w->group_lock);
	for (i = 0; i < t->nr_members; i++) {
		struct exec *ex = &p->ex[t->members[i].target];

		/* behind what the dispatcher already holds for that chip */
		if (dispatching)
			inbox_drain(ex);
		inbox_push(ex, &t->members[i].item);
	}
	pthread_mutex_unlock(&w->group_lock);
	for (i = 0; i < t->nr_members && w->mode_threads; i++)
		exec_kick(&p->ex[t->members[i].target]);
}

/*
 * Process mode: gated t (orch.c) goes onto its node's queue while its
 * producers, queued there before it, are unfinished.  Behind everything
 * queued for that node so far: a dispatching caller first takes the inbox
 * into the local FIFO it appends to.
 */
void sx_task_gate(struct task *t)
{
	struct simpler_worker *w = container_of(t->run, struct simpler_worker, run);
	struct exec *ex = &w->chips.ex[t->members[0].target];

	if (dispatching)
		inbox_drain(ex);
	enqueue(t);
}

/*
 * t's last producer is gone.  A poisoned task is finished at once with its
 * producer's failure; others are queued.
 */
void sx_task_ready(struct task *t)
{
	/* acquire: pairs with the release CAS in task_poison(): the failure's message */
	struct failure *f = atomic_load_explicit(&t->poison, memory_order_acquire);

	if (f) {
		/* the poison reference becomes the task's own failure */
		atomic_store_explicit(&t->poison, NULL, memory_order_relaxed);
		sx_task_finish(t, f, NULL);
		return;
	}
	enqueue(t);
}

void sx_frame_put(struct simpler_worker *w, struct frame *f, int64_t n)
{
	struct frame *parent, *head;

	/* acq_rel: whoever drops the last reference sees every finisher's writes */
	for (; f && atomic_fetch_sub_explicit(&f->refs, n, memory_order_acq_rel) == n; n = 1) {
		parent = f->parent;
		/*
		 * dead: hand it to the orchestrator, which frees its memory (the
		 * release CAS pairs with its acquire exchange in sx_orch_reclaim();
		 * the release decrement after it, with the acquire loads of
		 * frames_closed: a frame is on the stack before it stops counting)
		 */
		head = atomic_load_explicit(&w->frames_dead, memory_order_relaxed);
		do {
			f->done_next = head;
		} while (!atomic_compare_exchange_weak_explicit(&w->frames_dead, &head, f,
								memory_order_release,
								memory_order_relaxed));
		atomic_fetch_sub_explicit(&w->frames_closed, 1, memory_order_release);
		ec_notify(&w->frame_ec);
		f = parent;
	}
}

/*
 * t is over: f is its failure (reference passed in) or NULL.  Publish the
 * outcome, release the consumers, drop the frame and run references and give
 * the slot back.  Poisoned consumers finish here too, iteratively.
 */
void sx_task_finish(struct task *t, struct failure *f, struct exec *ex)
{
	struct simpler_worker *w = container_of(t->run, struct simpler_worker, run);
	struct task *work = NULL, *c;
	struct edge *e, *next;
	struct run *run;
	struct task *head;
	struct failure *expected, *p;
	int32_t free, want;

	/* gated: a producer's failure is its outcome, whatever its node said */
	if (atomic_load_explicit(&t->gated, memory_order_relaxed)) {
		/* acquire: pairs with task_poison()'s release CAS */
		p = atomic_exchange_explicit(&t->poison, NULL, memory_order_acquire);
		if (p && f)
			sx_failure_put(f);
		if (p)
			f = p;
	}
	for (;;) {
		run = t->run;
		if (f) {
			t->failure = f;
			expected = NULL;
			/* release: pairs with the acquire load in run_failed() (orch.c) */
			if (atomic_compare_exchange_strong_explicit(&run->first, &expected,
								    failure_get(f),
								    memory_order_release,
								    memory_order_relaxed) == false)
				sx_failure_put(f);
			atomic_fetch_add_explicit(&w->st_failed, 1, memory_order_relaxed);
			/* pairs with the acquire load in task_finished()/wire() */
			atomic_store_explicit(&t->state, TS_FAILED, memory_order_release);
		} else {
			STAT_ADD(ex->st_completed, 1);	/* success only ever finishes on ex */
			/* pairs with the acquire load in task_finished()/wire() */
			atomic_store_explicit(&t->state, TS_DONE, memory_order_release);
		}
		/* pairs with the CAS that pushed each edge (release) */
		e = atomic_exchange_explicit(&t->fanout, EDGE_CLOSED, memory_order_acq_rel);
		for (; e; e = next) {
			next = e->next;		/* e belongs to c: read it before releasing c */
			c = e->consumer;
			if (f)
				task_poison(c, f);
			/* acq_rel: the one that readies c sees what every producer wrote */
			if (atomic_fetch_sub_explicit(&c->pending, 1, memory_order_acq_rel) == 1) {
				/* acquire: pairs with task_poison()'s release CAS */
				if (atomic_load_explicit(&c->gated, memory_order_relaxed)) {
					/* queued already: its own result finishes it */
				} else if (atomic_load_explicit(&c->poison, memory_order_acquire)) {
					c->free_next = work;	/* finish it below */
					work = c;
				} else {
					enqueue(c);
				}
			}
		}
		sx_frame_put(w, t->frame, 1);
		/*
		 * seq_cst RMW: the task's effects are published (the waiter's
		 * acquire load in simpler_run() pairs with it), then the waiter
		 * check of ec_notify_after_rmw()
		 */
		if (atomic_fetch_sub_explicit(&run->inflight, 1, memory_order_seq_cst) == 1)
			ec_notify_after_rmw(&run->done_ec);
		/* pairs with the acquire load in task_finished() (tensormap.c) */
		atomic_store_explicit(&t->state, TS_CONSUMED, memory_order_release);
		/*
		 * the slot goes back last: the orchestrator may reuse it at once
		 * (seq_cst CAS: published to its acquire exchange in slot_get(),
		 * and ordered before the waiter check of the notify)
		 */
		head = atomic_load_explicit(&w->free_shared, memory_order_relaxed);
		do {
			t->free_next = head;
		} while (!atomic_compare_exchange_weak_explicit(&w->free_shared, &head, t,
								memory_order_seq_cst,
								memory_order_relaxed));
		if (w->mode_threads) {
			ec_notify_after_rmw(&w->slot_ec);
		} else {
			/* seq_cst RMW: the count, then the orchestrator's want (Dekker, slot_get()) */
			free = atomic_fetch_add_explicit(&w->nr_free_shared, 1,
							 memory_order_seq_cst) + 1;
			want = atomic_load_explicit(&w->slot_want, memory_order_seq_cst);
			if (want && free >= want)
				ec_notify_after_rmw(&w->slot_ec);
		}

		if (!work)
			return;
		t = work;
		work = work->free_next;
		/* acquire: pairs with task_poison()'s release CAS */
		f = atomic_load_explicit(&t->poison, memory_order_acquire);
		atomic_store_explicit(&t->poison, NULL, memory_order_relaxed);
	}
}

/* ---- executors ---- */

/* stop is stored seq_cst by sx_sched_stop(): the acquire loads here pair with it */
static bool exec_has_work(struct exec *ex)
{
	return ex->local || atomic_load_explicit(&ex->inbox, memory_order_relaxed) ||
	       q_nonempty(&ex->pool->qhead) || atomic_load_explicit(&ex->w->stop,
								    memory_order_acquire);
}

static void exec_wait(struct exec *ex)
{
	uint64_t deadline = now_ns() + ex->w->spin_ns;
	unsigned k, backoff = 1;
	uint32_t key;

	/*
	 * seq_cst: a producer queues work for the pool and then reads nspin
	 * (pool_notify()); counted here before we look, we either see the work
	 * or the producer sees us spinning (it then wakes nobody)
	 */
	atomic_fetch_add_explicit(&ex->pool->nspin, 1, memory_order_seq_cst);
	while (!exec_has_work(ex)) {
		if (now_ns() < deadline) {
			/* poll gently: each look takes the producers' lines away from them */
			for (k = 0; k < backoff; k++)
				cpu_relax();
			if (backoff < 64)
				backoff *= 2;
			continue;
		}
		/* no longer a spinner: from here a producer must wake us */
		atomic_fetch_sub_explicit(&ex->pool->nspin, 1, memory_order_seq_cst);
		/* pairs with the fence in pool_notify() */
		atomic_fetch_add_explicit(&ex->pool->nsleep, 1, memory_order_seq_cst);
		/* claimable from here; pairs with the CAS in exec_wake() */
		atomic_store_explicit(&ex->asleep, 1, memory_order_seq_cst);
		RACE_WINDOW();	/* a claim may land before we announce ourselves */
		key = ec_prepare(&ex->ec);
		if (exec_has_work(ex)) {
			ec_cancel(&ex->ec);
		} else {
			ec_sleep(&ex->ec, key);
		}
		atomic_store_explicit(&ex->asleep, 0, memory_order_relaxed);
		atomic_fetch_sub_explicit(&ex->pool->nsleep, 1, memory_order_relaxed);
		deadline = now_ns() + ex->w->spin_ns;
		backoff = 1;
		atomic_fetch_add_explicit(&ex->pool->nspin, 1, memory_order_seq_cst);
	}
	atomic_fetch_sub_explicit(&ex->pool->nspin, 1, memory_order_seq_cst);
}

/* the next item: own queue first, then the pool's; NULL when stopping */
static struct qitem *exec_next(struct exec *ex)
{
	struct qitem *it;

	for (;;) {
		if (!ex->local)
			inbox_drain(ex);
		it = local_pop(ex);
		if (it) {
			/*
			 * It may have been woken for work of the pool: its own
			 * comes first, so pass the wake-up on to a sleeper.
			 */
			if (q_nonempty(&ex->pool->qhead))
				pool_notify(ex->pool);
			return it;
		}
		it = pool_pop(ex->pool);
		if (it)
			return it;
		if (atomic_load_explicit(&ex->w->stop, memory_order_acquire))	/* sx_sched_stop() */
			return NULL;
		exec_wait(ex);
	}
}

/* thread mode: member m of t runs on this thread */
static struct failure *exec_local(struct exec *ex, struct task *t, uint32_t m)
{
	const struct shared_callable *cb = &ex->w->ctab->v[t->callable];
	const struct member *mb = &t->members[m];
	struct launch l = {
		.fn = (simpler_kernel_fn)(uintptr_t)cb->fn,
		.name = cb->name,
		.seq = t->seq,
		.block_dim = t->block_dim,
		.nt = mb->nt,
		.ns = mb->ns,
		.tensors = &t->tensors[mb->t0],
		.acc = &t->acc[mb->t0],
		.scalars = &t->scalars[mb->s0],
		.strides = t->has_views ? (const uint64_t (*)[SIMPLER_MAX_DIMS])&t->strides[mb->t0] :
					  NULL,
	};
	char msg[ERRMSG_LEN];
	uint64_t staged;
	int ret;

	ret = sx_chipside_launch(&ex->cs, &l, msg, sizeof(msg), &staged);
	STAT_ADD(ex->st_staged, staged);
	return ret ? sx_failure_or_oom(sx_failure_new(ret, "%s", msg)) : NULL;
}

/* a member of t ended on ex with f (reference passed); the last one finishes t */
static void member_done(struct exec *ex, struct task *t, struct failure *f)
{
	struct failure *expected = NULL;
	uint32_t n = t->nr_members;

	if (n > 1) {
		/* release: the failure's contents, for the member that takes it below */
		if (f && !atomic_compare_exchange_strong_explicit(&t->g_fail, &expected, f,
								  memory_order_release,
								  memory_order_relaxed))
			sx_failure_put(f);
		/* one aggregate completion: the last member to finish reports it */
		if (atomic_fetch_add_explicit(&t->g_done, 1, memory_order_acq_rel) + 1 < n)
			return;
		/* acquire: pairs with the release CAS of the failing member (g_done orders it too) */
		f = atomic_exchange_explicit(&t->g_fail, NULL, memory_order_acquire);
	}
	sx_task_finish(t, f, ex);
}

static void run_item(struct exec *ex, struct qitem *it)
{
	struct simpler_worker *w = ex->w;
	struct task *t = it->task;
	uint32_t n = t->nr_members;

	if (n > 1) {
		/* a group starts when every member reached its chip (acq_rel/acquire: all see all) */
		if (atomic_fetch_add_explicit(&t->g_arrived, 1, memory_order_acq_rel) + 1 == n)
			ec_notify(&w->group_ec);
		else
			EC_WAIT_UNTIL(&w->group_ec, w->spin_ns,
				      atomic_load_explicit(&t->g_arrived, memory_order_acquire) == n);
	}
	atomic_store_explicit(&t->state, TS_RUNNING, memory_order_relaxed);
	member_done(ex, t, exec_local(ex, t, it->member));
}

static void *exec_main(void *arg)
{
	struct exec *ex = arg;
	struct qitem *it;
	char name[16];

	snprintf(name, sizeof(name), "simpler-%s%d", ex->pool->chips ? "chip" : "sub", ex->index);
	pthread_setname_np(pthread_self(), name);
	if (ex->pool->chips && worker_binds_chips(ex->w))
		sync_bind_nth(ex->index);

	while ((it = exec_next(ex)))
		run_item(ex, it);
	return NULL;
}

static void pool_stop(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		ec_notify(&p->ex[i].ec);
	for (i = 0; i < p->n; i++) {
		if (p->ex[i].started)
			pthread_join(p->ex[i].thread, NULL);
		p->ex[i].started = false;
	}
}

/* ---- the dispatcher (process mode) ---- */

#define for_each_exec(w, i, ex) \
	for (i = 0; i < nslots(w) && ((ex) = slot_exec(w, i), 1); i++)

static unsigned inflight(struct exec *ex)
{
	return atomic_load_explicit(&ex->posted, memory_order_relaxed) -
	       atomic_load_explicit(&ex->reaped, memory_order_relaxed);
}

/* give it to ex's process, or fail it at once if the process is dead */
static void start(struct exec *ex, struct qitem *it)
{
	struct task *t = it->task;

	atomic_store_explicit(&t->state, TS_RUNNING, memory_order_relaxed);
	if (atomic_load_explicit(&t->gated, memory_order_relaxed)) {
		/*
		 * Producers all finished, one failed: done here.  Frames in
		 * flight before it: it goes behind them, even to a dead node,
		 * whose frames fail in order: it must not finish before they
		 * do.  Nothing in flight: its producers are all reaped, it goes
		 * (or fails, the node dead) as any task.  Acquire: pairs with
		 * the finishers' acq_rel decrements.
		 */
		if (!atomic_load_explicit(&t->pending, memory_order_acquire) &&
		    atomic_load_explicit(&t->poison, memory_order_acquire)) {
			sx_task_finish(t, NULL, ex);
			return;
		}
		if (inflight(ex)) {
			sx_lane_post(ex, it);
			return;
		}
	}
	if (!exec_dead(ex))
		sx_lane_post(ex, it);
	else
		member_done(ex, t, sx_lane_dead_failure(ex, t));
}

/*
 * Can group t start?  Every member must head its chip's queue with nothing
 * in flight there.  Groups enter the queues in one global order, so the
 * chips a group waits for reach it in turn: no deadlock.
 */
static bool group_ready(struct simpler_worker *w, struct task *t)
{
	struct pool *p = t->sub ? &w->subs : &w->chips;
	uint32_t m;

	for (m = 0; m < t->nr_members; m++) {
		struct exec *ex = &p->ex[t->members[m].target];

		inbox_drain(ex);
		if (ex->local != &t->members[m].item || inflight(ex))
			return false;
	}
	return true;
}

static void group_start(struct simpler_worker *w, struct task *t)
{
	struct pool *p = t->sub ? &w->subs : &w->chips;
	uint32_t m;

	for (m = 0; m < t->nr_members; m++) {
		struct exec *ex = &p->ex[t->members[m].target];

		local_pop(ex);
		start(ex, &t->members[m].item);
	}
}

/* post what ex can take; true if anything moved */
static bool feed(struct simpler_worker *w, struct exec *ex)
{
	struct qitem *it;
	bool moved = false;

	inbox_drain(ex);
	while (inflight(ex) < MB_RING) {
		it = ex->local;
		if (it && it->task->nr_members > 1) {
			/* a group reserves the chip until it can start */
			if (!group_ready(w, it->task))
				break;
			group_start(w, it->task);
		} else if (it) {
			local_pop(ex);
			start(ex, it);
		} else {
			break;
		}
		moved = true;
	}
	return moved;
}

/* is ex's process asleep (not spinning, not running)? */
static bool sleeping(struct exec *ex)
{
	return !inflight(ex) && ec_asleep(&ex->mb->child_ec);
}

/* is ex's process free to claim pool work at once (alive, awake, idle)? */
static bool awake_idle(struct exec *ex)
{
	return !exec_dead(ex) && !inflight(ex) && !ex->local &&
	       !atomic_load_explicit(&ex->mb->claimed, memory_order_relaxed) &&
	       !atomic_load_explicit(&ex->mb->child_ec.waiters, memory_order_relaxed);
}

/* did a process of p start a frame less than hold_ns ago (so is about to be free)? */
static bool pool_soon(struct simpler_worker *w, struct pool *p, uint64_t hold_ns)
{
	uint64_t now = pass_clock(w);
	struct exec *ex;
	unsigned i;

	for (i = 0; i < PR_FRAMES; i++)
		if (p->pr_it[i] && now - p->pr_t[i] < hold_ns &&
		    atomic_load_explicit(&p->ring->state[i], memory_order_relaxed) >= PR_CLAIMED)
			return true;
	for (i = 0; i < (unsigned)p->n; i++) {
		ex = &p->ex[i];
		if (inflight(ex) &&
		    now - ex->ring_t[atomic_load_explicit(&ex->reaped, memory_order_relaxed) %
				     MB_RING] < hold_ns)
			return true;
	}
	return false;
}

/*
 * Work for any executor of p goes into p's shared ring, where whichever
 * process is free first claims it, so a busy one never holds it (an awake
 * idle process gets one through its own ring first).  Then enough sleeping
 * processes are woken for what the awake idle ones will not take: waking
 * costs a futex wake-up, worth it when tasks are long (recent ones took more
 * than hold_ns), or when no busy process is about to be free (started its
 * frame less than hold_ns ago) to take it instead.
 */
static bool pool_feed(struct simpler_worker *w, struct pool *p)
{
	uint64_t hold_ns = w->spin_ns / 2;
	unsigned i, avail, idle = 0;
	struct qitem *it;
	bool moved = false, stalled;
	struct exec *ex;

	/* an awake idle process takes one at once through its own ring: nothing shared */
	for (i = 0; q_nonempty(&p->qhead) && i < (unsigned)p->n; i++) {
		ex = &p->ex[i];
		if (!atomic_load_explicit(&p->ring->avail, memory_order_relaxed) && awake_idle(ex) &&
		    (it = pool_pop(p))) {
			start(ex, it);
			moved = true;
		}
	}
	/* the rest into the shared ring, for whoever is free first */
	for (i = 0; q_nonempty(&p->qhead) && p->pr_used < PR_FRAMES && i < PR_FRAMES; i++) {
		if (p->pr_it[i])
			continue;
		it = pool_pop(p);
		if (!it)
			break;
		atomic_store_explicit(&it->task->state, TS_RUNNING, memory_order_relaxed);
		sx_lane_pool_post(w, p, i, it);
		moved = true;
	}
	atomic_store_explicit(&p->stalled, false, memory_order_relaxed);
	/*
	 * seq_cst: after the posts' seq_cst adds to avail, before reading which
	 * children sleep; a child announces itself on child_ec before it
	 * re-reads avail (has_work()), so one of the two sees the other
	 */
	avail = atomic_load_explicit(&p->ring->avail, memory_order_seq_cst);
	if (!avail)
		return moved;
	/* remote nodes of the pool take their share through the L4's engine */
	sx_lane_kick(w);
	for (i = 0; i < (unsigned)p->n; i++)
		idle += awake_idle(&p->ex[i]);
	if (avail <= idle)
		return moved;
	/* short tasks, and a process that started one lately is about to be free */
	stalled = atomic_load_explicit(&p->ewma_ns, memory_order_relaxed) <= hold_ns &&
		  pool_soon(w, p, hold_ns);
	atomic_store_explicit(&p->stalled, stalled, memory_order_relaxed);
	if (stalled)
		return moved;	/* the dispatcher looks again in hold_ns (disp_main) */
	for (i = 0; i < (unsigned)p->n && avail > idle; i++) {
		ex = &p->ex[i];
		if (!exec_dead(ex) && sleeping(ex)) {
			ec_notify(&ex->mb->child_ec);
			avail--;
		}
	}
	return moved;
}

/* reap every finished frame of p's shared ring */
static bool pool_reap(struct simpler_worker *w, struct pool *p)
{
	struct failure *f;
	struct qitem *it;
	struct exec *ex;
	bool moved = false;
	unsigned i;

	for (i = 0; p->pr_used && i < PR_FRAMES; i++) {
		if (sx_lane_pool_reap(w, p, i, &it, &ex, &f)) {
			member_done(ex, it->task, f);
			moved = true;
		}
	}
	return moved;
}

/* a free frame in p's shared ring?  No baton needed (the states say) */
static bool pool_has_room(struct pool *p)
{
	unsigned i;

	for (i = 0; i < PR_FRAMES; i++)
		if (atomic_load_explicit(&p->ring->state[i], memory_order_relaxed) == PR_FREE)
			return true;
	return false;
}

/* is anything of p's shared ring over (done, or its process dead)?  No baton needed */
static bool pool_reapable(struct simpler_worker *w, struct pool *p)
{
	uint32_t st;
	unsigned i;

	for (i = 0; i < PR_FRAMES; i++) {
		/* acquire: pairs with the child's seq_cst exchange to DONE (its result) */
		st = atomic_load_explicit(&p->ring->state[i], memory_order_acquire);
		if (st == PR_DONE ||
		    (st >= PR_CLAIMED && exec_dead(slot_exec(w, (int)(st - PR_CLAIMED)))))
			return true;
	}
	return false;
}

/* nobody left to take a pool's work: fail it */
static bool pool_orphans(struct pool *p)
{
	struct qitem *it;
	bool moved = false;
	unsigned i;
	int k;

	for (k = 0; k < p->n; k++)
		if (!exec_dead(&p->ex[k]))
			return false;
	for (i = 0; i < PR_FRAMES; i++) {
		if (p->n && sx_lane_pool_unpost(p, i, &it)) {
			start(&p->ex[0], it);
			moved = true;
		}
	}
	while (p->n && (it = pool_pop(p))) {
		start(&p->ex[0], it);
		moved = true;
	}
	return moved;
}

/* something the dispatcher can act on (it evaluates this while spinning) */
static bool disp_has_work(struct simpler_worker *w)
{
	struct exec *ex;
	bool idle = false;
	int i;

	if (atomic_load_explicit(&w->stop, memory_order_acquire))
		return true;
	for_each_exec(w, i, ex) {
		if (sx_lane_reapable(ex) || atomic_load_explicit(&ex->inbox, memory_order_relaxed))
			return true;
		idle |= !exec_dead(ex);
	}
	if (pool_reapable(w, &w->chips) || pool_reapable(w, &w->subs))
		return true;
	/* pool work waits for room in its ring */
	return idle && ((q_nonempty(&w->chips.qhead) && pool_has_room(&w->chips)) ||
			(q_nonempty(&w->subs.qhead) && pool_has_room(&w->subs)));
}

/*
 * The baton: whoever holds it owns the dispatcher's state (rings posted and
 * reaped, local FIFOs).  Taking it acquires what the last holder released.
 */
static bool baton_take(struct simpler_worker *w)
{
	return !atomic_load_explicit(&w->baton, memory_order_relaxed) &&
	       !atomic_exchange_explicit(&w->baton, true, memory_order_acquire);
}

static void baton_drop(struct simpler_worker *w)
{
	atomic_store_explicit(&w->baton, false, memory_order_release);
}

/* the baton, from a dispatcher thread in the middle of one pass at most */
static void baton_wait(struct simpler_worker *w)
{
	unsigned n;

	for (n = 1; !baton_take(w); n++) {
		if (n % 64 == 0)
			sched_yield();
		else
			cpu_relax();
	}
}

/* processes of the worker running a frame now (mailbox.h) */
static unsigned running_kids(struct simpler_worker *w)
{
	return procs_running(w->pshared, w->env.mb, nslots(w));
}

#define LOAD_PERIOD_NS	5000000ULL

unsigned sx_sched_others(struct simpler_worker *w, unsigned ours)
{
	uint64_t now = now_ns(), last = atomic_load_explicit(&w->load_ns, memory_order_relaxed);
	unsigned running;
	int r;

	if (w->loadavg_fd < 0 || now - last < LOAD_PERIOD_NS ||
	    !atomic_compare_exchange_strong_explicit(&w->load_ns, &last, now,
						     memory_order_relaxed, memory_order_relaxed))
		return atomic_load_explicit(&w->others, memory_order_relaxed);
	r = sx_loadavg_read(w->loadavg_fd);
	if (r < 0)
		return atomic_load_explicit(&w->others, memory_order_relaxed);
	running = (unsigned)r > ours ? (unsigned)r - ours : 0;
	atomic_store_explicit(&w->others, running, memory_order_relaxed);
	if (w->pshared)	/* the children read it from there */
		atomic_store_explicit(&w->pshared->others, running, memory_order_relaxed);
	return running;
}

/* the baton holder looks on behalf of the children (counting ours only when it looks) */
static void load_look(struct simpler_worker *w)
{
	if (pass_clock(w) - atomic_load_explicit(&w->load_ns, memory_order_relaxed) <
	    LOAD_PERIOD_NS)
		return;
	/* this thread, the orchestrator if it dispatches too, running and spinning children */
	sx_sched_others(w, 1 + atomic_load_explicit(&w->pshared->helping, memory_order_relaxed) +
			running_kids(w) +
			atomic_load_explicit(&w->pshared->spinners, memory_order_relaxed));
}

/* recent tasks took longer than a spin: a completion is not expected within one */
static bool tasks_long(struct simpler_worker *w)
{
	return atomic_load_explicit(&w->chips.ewma_ns, memory_order_relaxed) > w->spin_ns &&
	       (!w->subs.n || atomic_load_explicit(&w->subs.ewma_ns, memory_order_relaxed) > w->spin_ns);
}

uint64_t sx_sched_spin_ns(struct simpler_worker *w)
{
	struct proc_shared *ps = w->pshared;

	if (tasks_long(w))
		return 0;
	/* the running processes and other programs first; then this spinner */
	if (atomic_load_explicit(&ps->others, memory_order_relaxed) + running_kids(w) + 1 >
	    ps->ncpus)
		return 0;
	return w->spin_ns;
}

/* one pass: reap every ring, feed every process; the caller holds the baton */
static bool disp_pass(struct simpler_worker *w)
{
	struct failure *f;
	struct qitem *it;
	struct exec *ex;
	bool moved = false;
	int i;

	dispatching = true;
	w->pass_ns = 0;
	load_look(w);
	for_each_exec(w, i, ex) {
		while (sx_lane_reap(ex, &it, &f)) {
			member_done(ex, it->task, f);
			moved = true;
		}
	}
	moved |= pool_reap(w, &w->chips) | pool_reap(w, &w->subs);
	for_each_exec(w, i, ex)
		moved |= feed(w, ex);
	moved |= pool_feed(w, &w->chips) | pool_feed(w, &w->subs);
	moved |= pool_orphans(&w->chips) | pool_orphans(&w->subs);
	dispatching = false;
	return moved;
}

/* one pass if nobody holds the baton: false if someone does; *moved: the pass moved work */
bool sx_sched_pass(struct simpler_worker *w, bool *moved)
{
	if (!baton_take(w))
		return false;
	*moved = disp_pass(w);
	baton_drop(w);
	return true;
}

bool sx_sched_help(struct simpler_worker *w)
{
	bool moved = false;

	sx_sched_pass(w, &moved);
	return moved;
}

/* work queued but not in a ring yet; the caller holds the baton */
static bool disp_queued(struct simpler_worker *w)
{
	struct exec *ex;
	int i;

	for_each_exec(w, i, ex)
		if (ex->local || atomic_load_explicit(&ex->inbox, memory_order_relaxed))
			return true;
	return q_nonempty(&w->chips.qhead) || q_nonempty(&w->subs.qhead);
}

/*
 * The dispatcher thread must go on without the orchestrator: wake it.
 * duty and helping are seq_cst stores: children read them after their
 * seq_cst publish of a result (child.c) to decide whether to wake the
 * dispatcher, a Dekker pair with the dispatcher's re-check of its work
 * after announcing itself on disp_ec.  The acquire loads pair with them.
 */
static void disp_duty(struct simpler_worker *w)
{
	atomic_store_explicit(&w->pshared->duty, 1, memory_order_seq_cst);
	ec_notify(&w->pshared->disp_ec);
}

/* helping and duty: see disp_duty() for what their seq_cst accesses pair with */
void sx_sched_let_go(struct simpler_worker *w)
{
	struct exec *ex;
	bool pending;
	int i;

	atomic_store_explicit(&w->pshared->helping, 0, memory_order_seq_cst);
	/* on duty and up already: it carries on (the notify covers its dozing off) */
	if (atomic_load_explicit(&w->pshared->duty, memory_order_relaxed) &&
	    !atomic_load_explicit(&w->pshared->disp_ec.waiters, memory_order_seq_cst)) {
		ec_notify(&w->pshared->disp_ec);
		return;
	}
	baton_wait(w);
	pending = disp_queued(w) || w->chips.pr_used || w->subs.pr_used;
	for_each_exec(w, i, ex)
		pending |= inflight(ex) != 0;
	baton_drop(w);
	if (pending)
		disp_duty(w);
	else	/* nothing anywhere: finishing children need wake nobody */
		atomic_store_explicit(&w->pshared->duty, 0, memory_order_relaxed);
}

void sx_sched_catch_up(struct simpler_worker *w)
{
	/* an awake dispatcher thread reaps as things finish */
	if (atomic_load_explicit(&w->pshared->disp_ec.waiters, memory_order_relaxed)) {
		sched_beat(w);
		sx_sched_help(w);
	}
}

void sx_sched_present(struct simpler_worker *w)
{
	sched_beat(w);
	if (atomic_load_explicit(&w->pshared->helping, memory_order_relaxed))
		return;
	atomic_store_explicit(&w->pshared->helping, 1, memory_order_seq_cst);
	/*
	 * A dispatcher thread on duty that fell asleep while nobody helped
	 * sleeps without a timer, and children stop waking it now that we
	 * help: it must stand by instead, or it sleeps through our going away
	 * (a chain then waited for the orchestrator's return, 5 s in a test).
	 * Off duty it needs nothing: disp_duty() wakes it when work waits.
	 * seq_cst store, then the waiter check: a Dekker pair with its
	 * ec_prepare() and re-check of helping (disp_main()).
	 */
	if (atomic_load_explicit(&w->pshared->duty, memory_order_seq_cst))
		ec_notify(&w->pshared->disp_ec);
}

void sx_sched_submitted(struct simpler_worker *w, bool ready)
{
	bool queued = true;

	/* the orchestrator posts what is ready itself: no thread to wake for it */
	sx_sched_present(w);
	if (baton_take(w)) {
		disp_pass(w);
		queued = disp_queued(w);
		baton_drop(w);
	}
	/*
	 * What waits for running tasks, or for room in a ring, needs someone
	 * while we are away: the dispatcher thread stands by (one wake a run).
	 */
	if ((!ready || queued) && !atomic_load_explicit(&w->pshared->duty, memory_order_relaxed))
		disp_duty(w);
}

/* for the dispatcher thread: stopping, or work while the orchestrator is away */
static bool disp_wanted(struct simpler_worker *w)
{
	return atomic_load_explicit(&w->stop, memory_order_acquire) ||
	       atomic_load_explicit(&w->pshared->helping, memory_order_acquire) ||
	       disp_has_work(w);
}

/*
 * The orchestrator dispatches itself: sleep, with a timer while work waits
 * for completions (duty), and take over if its heartbeat stood still for
 * standby_ns: it went off into the application's code mid-run.
 */
static void disp_standby(struct simpler_worker *w, uint64_t *beat, uint64_t *since)
{
	struct ec *e = &w->pshared->disp_ec;
	uint64_t b = atomic_load_explicit(&w->beat, memory_order_relaxed), now = now_ns();
	uint32_t key;

	if (b != *beat) {
		*beat = b;
		*since = now;
	}
	if (!atomic_load_explicit(&w->pshared->duty, memory_order_acquire)) {
		*since = now;		/* nothing waits: no clock runs */
		key = ec_prepare(e);
		if (atomic_load_explicit(&w->stop, memory_order_acquire) ||
		    !atomic_load_explicit(&w->pshared->helping, memory_order_acquire) ||
		    atomic_load_explicit(&w->pshared->duty, memory_order_acquire))
			ec_cancel(e);
		else
			ec_sleep(e, key);
		return;
	}
	if (now - *since >= w->standby_ns) {
		/* away: ours until it comes back (and children wake us meanwhile) */
		uint32_t one = 1;

		atomic_compare_exchange_strong_explicit(&w->pshared->helping, &one, 0,
							memory_order_seq_cst, memory_order_relaxed);
		*since = now;
		return;
	}
	key = ec_prepare(e);
	if (atomic_load_explicit(&w->stop, memory_order_acquire) ||
	    !atomic_load_explicit(&w->pshared->helping, memory_order_acquire))
		ec_cancel(e);
	else
		ec_sleep_for(e, key, w->standby_ns - (now - *since));
}

static void *disp_main(void *arg)
{
	struct simpler_worker *w = arg;
	struct ec *e = &w->pshared->disp_ec;
	uint64_t deadline, beat = 0, since = 0;
	uint32_t key;
	unsigned n;
	bool moved, skip;

	pthread_setname_np(pthread_self(), "simpler-disp");
	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		if (atomic_load_explicit(&w->pshared->helping, memory_order_acquire)) {
			disp_standby(w, &beat, &since);
			continue;
		}
		if (!sx_sched_pass(w, &moved)) {
			/*
			 * The orchestrator dispatches (it came back after we took
			 * over, and says so at its next look): leave it the CPU
			 * rather than contend for the baton.  Children wake us when
			 * they finish while nobody helps.
			 */
			key = ec_prepare(e);
			if (atomic_load_explicit(&w->stop, memory_order_acquire) ||
			    atomic_load_explicit(&w->pshared->helping, memory_order_acquire) ||
			    !atomic_load_explicit(&w->baton, memory_order_acquire))
				ec_cancel(e);
			else
				ec_sleep_for(e, key, w->spin_ns / 2);
			continue;
		}
		if (moved)
			continue;
		/*
		 * Spin a while for more, then sleep until a child or the
		 * orchestrator wakes us.  Short tasks get one round of 64 looks
		 * even without a budget (an empty task is back within it); long
		 * ones not even that.
		 */
		deadline = now_ns() + sx_sched_spin_ns(w);
		for (n = 1, skip = tasks_long(w); !disp_wanted(w); n++) {
			if (skip || (n % 64 == 0 && now_ns() > deadline)) {
				key = ec_prepare(e);
				if (disp_wanted(w))
					ec_cancel(e);
				else if (atomic_load_explicit(&w->chips.stalled, memory_order_relaxed) ||
					 atomic_load_explicit(&w->subs.stalled, memory_order_relaxed)) {
					/*
					 * Work waits for a process that is about to be
					 * free (pool_feed()); if it is not by then, the
					 * next pass wakes one that sleeps for it.
					 */
					ec_sleep_for(e, key, w->spin_ns / 2);
					break;
				} else {
					ec_sleep(e, key);
				}
				deadline = now_ns() + sx_sched_spin_ns(w);
				skip = tasks_long(w);
			} else if (n % 64 == 0) {
				sched_yield();
			} else {
				cpu_relax();
			}
		}
	}
	return NULL;
}

void sx_sched_stop(struct simpler_worker *w)
{
	/* seq_cst: before the notifies' waiter checks; every acquire load of stop pairs with it */
	atomic_store_explicit(&w->stop, true, memory_order_seq_cst);
	if (w->disp_started) {
		ec_notify(&w->pshared->disp_ec);
		pthread_join(w->disp, NULL);
		w->disp_started = false;
	}
	pool_stop(&w->chips);
	pool_stop(&w->subs);
}

static int pool_start(struct simpler_worker *w, struct pool *p)
{
	int i, ret;

	for (i = 0; i < p->n; i++) {
		ret = -pthread_create(&p->ex[i].thread, NULL, exec_main, &p->ex[i]);
		if (ret)
			return werr(w, ret, "cannot start the thread of %s %d: %s",
				    p->chips ? "chip" : "sub", i, strerror(-ret));
		p->ex[i].started = true;
	}
	return 0;
}

int sx_sched_start(struct simpler_worker *w)
{
	int ret;

	if (!w->mode_threads) {
		ret = -pthread_create(&w->disp, NULL, disp_main, w);
		if (ret)
			return werr(w, ret, "cannot start the dispatcher thread: %s", strerror(-ret));
		w->disp_started = true;
		return 0;
	}
	ret = pool_start(w, &w->chips);
	if (!ret)
		ret = pool_start(w, &w->subs);
	if (ret)
		sx_sched_stop(w);
	return ret;
}
