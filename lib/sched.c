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
 * Each executor runs what it pops and finishes it.  Idle executors spin
 * briefly, then sleep on their eventcount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mailbox.h"

/* ---- failures ---- */

struct failure *failure_new(int err, const char *fmt, ...)
{
	struct failure *f = malloc(sizeof(*f) + ERRMSG_LEN);
	va_list ap;

	if (!f)
		return NULL;
	atomic_init(&f->refs, 1);
	f->err = err < 0 ? err : -EIO;
	va_start(ap, fmt);
	vsnprintf(f->msg, ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return f;
}

void failure_put(struct failure *f)
{
	if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		free(f);
}

/* a failure we could not allocate: shared, never freed */
static struct failure *failure_oom(void)
{
	static struct {
		struct failure f;
		char msg[64];
	} oom = { .f = { .refs = 1u << 30, .err = -ENOMEM },
		  .msg = "out of memory while recording a task failure" };

	return failure_get(&oom.f);
}

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

static void pool_notify(struct pool *p)
{
	int i;

	/* pairs with the seq_cst increment of nsleep in exec_wait() */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&p->nsleep, memory_order_relaxed))
		return;
	for (i = 0; i < p->n; i++) {
		if (atomic_load_explicit(&p->ex[i].ec.waiters, memory_order_relaxed)) {
			ec_notify(&p->ex[i].ec);
			return;
		}
	}
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
	inbox_push(ex, it);
	ec_notify_after_rmw(&ex->ec);
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
		if (t->members[0].target < 0 && p->n > 1)
			pool_push(p, &t->members[0].item);
		else if (t->members[0].target < 0)	/* a pool of one: its inbox */
			exec_push(&p->ex[0], &t->members[0].item);
		else
			exec_push(&p->ex[t->members[0].target], &t->members[0].item);
		return;
	}
	/* a group: into every target queue at once, in one global order */
	pthread_mutex_lock(&w->group_lock);
	for (i = 0; i < t->nr_members; i++)
		inbox_push(&p->ex[t->members[i].target], &t->members[i].item);
	pthread_mutex_unlock(&w->group_lock);
	for (i = 0; i < t->nr_members; i++)
		ec_notify(&p->ex[t->members[i].target].ec);
}

/*
 * t's last producer is gone.  A poisoned task is finished at once with its
 * producer's failure; others are queued.
 */
void task_ready(struct task *t)
{
	struct failure *f = atomic_load_explicit(&t->poison, memory_order_acquire);

	if (f) {
		/* the poison reference becomes the task's own failure */
		atomic_store_explicit(&t->poison, NULL, memory_order_relaxed);
		task_finish(t, f, NULL);
		return;
	}
	enqueue(t);
}

static void poison(struct task *c, struct failure *f)
{
	struct failure *expected = NULL;

	failure_get(f);
	if (!atomic_compare_exchange_strong_explicit(&c->poison, &expected, f,
						     memory_order_release, memory_order_relaxed))
		failure_put(f);
}

void frame_put(struct simpler_worker *w, struct frame *f, int64_t n)
{
	struct frame *parent, *head;

	for (; f && atomic_fetch_sub_explicit(&f->refs, n, memory_order_acq_rel) == n; n = 1) {
		parent = f->parent;
		/* dead: hand it to the orchestrator, which frees its memory */
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
void task_finish(struct task *t, struct failure *f, struct exec *ex)
{
	struct simpler_worker *w = container_of(t->run, struct simpler_worker, run);
	struct task *work = NULL, *c;
	struct edge *e, *next;
	struct run *run;
	struct task *head;
	struct failure *expected;

	for (;;) {
		run = t->run;
		if (f) {
			t->failure = f;
			expected = NULL;
			if (atomic_compare_exchange_strong_explicit(&run->first, &expected,
								    failure_get(f),
								    memory_order_release,
								    memory_order_relaxed) == false)
				failure_put(f);
			atomic_fetch_add_explicit(&w->st_failed, 1, memory_order_relaxed);
			/* pairs with the acquire load in task_finished()/wire() */
			atomic_store_explicit(&t->state, TS_FAILED, memory_order_release);
		} else {
			STAT_ADD(ex->st_completed, 1);	/* success only ever finishes on ex */
			atomic_store_explicit(&t->state, TS_DONE, memory_order_release);
		}
		/* pairs with the CAS that pushed each edge (release) */
		e = atomic_exchange_explicit(&t->fanout, EDGE_CLOSED, memory_order_acq_rel);
		for (; e; e = next) {
			next = e->next;		/* e belongs to c: read it before releasing c */
			c = e->consumer;
			if (f)
				poison(c, f);
			if (atomic_fetch_sub_explicit(&c->pending, 1, memory_order_acq_rel) == 1) {
				if (atomic_load_explicit(&c->poison, memory_order_acquire)) {
					c->free_next = work;	/* finish it below */
					work = c;
				} else {
					enqueue(c);
				}
			}
		}
		frame_put(w, t->frame, 1);
		if (atomic_fetch_sub_explicit(&run->inflight, 1, memory_order_seq_cst) == 1)
			ec_notify_after_rmw(&run->done_ec);
		atomic_store_explicit(&t->state, TS_CONSUMED, memory_order_release);
		/* the slot goes back last: the orchestrator may reuse it at once */
		head = atomic_load_explicit(&w->free_shared, memory_order_relaxed);
		do {
			t->free_next = head;
		} while (!atomic_compare_exchange_weak_explicit(&w->free_shared, &head, t,
								memory_order_seq_cst,
								memory_order_relaxed));
		ec_notify_after_rmw(&w->slot_ec);

		if (!work)
			return;
		t = work;
		work = work->free_next;
		f = atomic_load_explicit(&t->poison, memory_order_acquire);
		atomic_store_explicit(&t->poison, NULL, memory_order_relaxed);
	}
}

/* ---- executors ---- */

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

	while (!exec_has_work(ex)) {
		if (now_ns() < deadline) {
			/* poll gently: each look takes the producers' lines away from them */
			for (k = 0; k < backoff; k++)
				cpu_relax();
			if (backoff < 64)
				backoff *= 2;
			continue;
		}
		/* pairs with the fence in pool_notify() */
		atomic_fetch_add_explicit(&ex->pool->nsleep, 1, memory_order_seq_cst);
		key = ec_prepare(&ex->ec);
		if (exec_has_work(ex)) {
			ec_cancel(&ex->ec);
		} else {
			ec_sleep(&ex->ec, key);
		}
		atomic_fetch_sub_explicit(&ex->pool->nsleep, 1, memory_order_relaxed);
		deadline = now_ns() + ex->w->spin_ns;
		backoff = 1;
	}
}

/* the next item: own queue first, then the pool's; NULL when stopping */
static struct qitem *exec_next(struct exec *ex)
{
	struct qitem *it;

	for (;;) {
		if (ex->local) {
			it = ex->local;
			ex->local = it->next;
			return it;
		}
		if (atomic_load_explicit(&ex->inbox, memory_order_relaxed)) {
			/* take the whole LIFO stack and reverse it into submission order */
			struct qitem *s = atomic_exchange_explicit(&ex->inbox, NULL,
								   memory_order_acquire), *n;

			for (; s; s = n) {
				n = s->next;
				s->next = ex->local;
				ex->local = s;
			}
			continue;
		}
		if (q_nonempty(&ex->pool->qhead)) {
			spin_lock(&ex->pool->qlock);
			it = ex->pool->qhead;
			if (it) {
				__atomic_store_n(&ex->pool->qhead, it->next, __ATOMIC_RELAXED);
				if (!it->next)
					ex->pool->qtail = NULL;
			}
			spin_unlock(&ex->pool->qlock);
			if (it)
				return it;
			continue;
		}
		if (atomic_load_explicit(&ex->w->stop, memory_order_acquire))
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
	};
	char msg[ERRMSG_LEN];
	uint64_t staged;
	int ret;

	ret = chipside_launch(&ex->cs, &l, msg, sizeof(msg), &staged);
	STAT_ADD(ex->st_staged, staged);
	return ret ? failure_or_oom(failure_new(ret, "%s", msg)) : NULL;
}

static void run_item(struct exec *ex, struct qitem *it)
{
	struct simpler_worker *w = ex->w;
	struct task *t = it->task;
	uint32_t n = t->nr_members;
	struct failure *f, *expected;

	if (n > 1) {
		/* a group starts when every member reached its chip */
		if (atomic_fetch_add_explicit(&t->g_arrived, 1, memory_order_acq_rel) + 1 == n)
			ec_notify(&w->group_ec);
		else
			EC_WAIT_UNTIL(&w->group_ec, w->spin_ns,
				      atomic_load_explicit(&t->g_arrived, memory_order_acquire) == n);
	}
	atomic_store_explicit(&t->state, TS_RUNNING, memory_order_relaxed);
	f = w->mode_threads ? exec_local(ex, t, it->member) : proc_exec_member(ex, t, it->member);
	if (n > 1) {
		if (f) {
			expected = NULL;
			if (!atomic_compare_exchange_strong(&t->g_fail, &expected, f))
				failure_put(f);
		}
		/* one aggregate completion: the last member to finish reports it */
		if (atomic_fetch_add_explicit(&t->g_done, 1, memory_order_acq_rel) + 1 < n)
			return;
		f = atomic_exchange(&t->g_fail, NULL);
	}
	task_finish(t, f, ex);
}

static void *exec_main(void *arg)
{
	struct exec *ex = arg;
	struct qitem *it;

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

void sched_stop(struct simpler_worker *w)
{
	atomic_store_explicit(&w->stop, true, memory_order_release);
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

int sched_start(struct simpler_worker *w)
{
	int ret = pool_start(w, &w->chips);

	if (!ret)
		ret = pool_start(w, &w->subs);
	if (ret)
		sched_stop(w);
	return ret;
}

struct failure *failure_or_oom(struct failure *f)
{
	return f ? f : failure_oom();
}
