// SPDX-License-Identifier: MIT
/*
 * The parent's side of the chip and sub processes' mailboxes (mailbox.h):
 * task frames posted into a process's own ring or its pool's shared ring
 * and reaped from them (the dispatcher: whoever holds the baton), control
 * commands (malloc, free, copies, unmaps: one caller per process at a time,
 * under its ctl_lock), and what a dead process means for the frames it had.
 * Processes themselves are proc.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lanes.h"
#include "mailbox.h"

bool sx_lane_alive(struct simpler_worker *w, int slot)
{
	return slot < nslots(w) && slot_exec(w, slot)->pid > 0 &&
	       !exec_dead(slot_exec(w, slot));
}

static const char *kernel_name(struct simpler_worker *w, const struct task *t)
{
	return w->ctab->v[t->callable].name;
}

struct failure *sx_lane_dead_failure(struct exec *ex, const struct task *t)
{
	if (ex->lost_err)
		return sx_failure_or_oom(sx_failure_new(ex->lost_err, "%s was lost (%s): %s '%s' "
						  "(task #%" PRIu64 ") did not run; a lost node "
						  "does not come back", ex->tag, ex->death,
						  callable_word(&ex->w->ctab->v[t->callable]),
						  kernel_name(ex->w, t), t->seq));
	return sx_failure_or_oom(sx_failure_new(-ECHILD, "%s is dead (%s): %s '%s' (task #%" PRIu64
					  ") did not run; it restarts at the next run", ex->tag,
					  ex->death, callable_word(&ex->w->ctab->v[t->callable]),
					  kernel_name(ex->w, t), t->seq));
}

_Static_assert(TASK_GATE_MAX <= MB_AFTER, "a gated task's producers must fit its frame");

/* write task member it into frame f */
static void frame_fill(struct simpler_worker *w, struct mb_task *f, struct qitem *it)
{
	struct task *t = it->task;
	const struct member *mb = &t->members[it->member];

	f->seq = t->seq;
	f->callable = t->callable;
	f->block_dim = t->block_dim;
	f->nr_tensors = mb->nt;
	f->nr_scalars = mb->ns;
	/* reg[] only when some tensor needs it: its lines then stay with the child */
	f->has_reg = t->has_reg;
	f->has_views = t->has_views;
	if (mb->nt) {
		memcpy(f->tensors, &t->tensors[mb->t0], mb->nt * sizeof(*f->tensors));
		memcpy(f->acc, &t->acc[mb->t0], mb->nt);
		/* the child makes them its own (chip/hostmap.h) */
		if (t->has_reg)
			memcpy(f->reg, &t->reg[mb->t0], mb->nt * sizeof(*f->reg));
		if (t->has_views)
			memcpy(f->strides, &t->strides[mb->t0], mb->nt * sizeof(*f->strides));
	}
	if (mb->ns)
		memcpy(f->scalars, &t->scalars[mb->s0], mb->ns * sizeof(*f->scalars));
}

/*
 * Gated t (sched.c) posted to ex: its producers still in flight there,
 * which its node runs before it, by seq; poisoned if one already failed.
 * A frame in flight is an unfinished task: its fanout is open, and holds
 * an edge to t if t waits for it (acquire: pairs with the orchestrator's
 * release CAS that pushed each edge; edges leave only when it finishes,
 * which only the baton holder, this caller, does).
 */
static void frame_gate(struct exec *ex, struct mb_gate *f, const struct task *t)
{
	uint32_t k = atomic_load_explicit(&ex->reaped, memory_order_relaxed);
	uint32_t end = atomic_load_explicit(&ex->posted, memory_order_relaxed);
	const struct edge *e;

	/* acquire: pairs with task_poison()'s release CAS */
	f->poisoned = atomic_load_explicit(&t->poison, memory_order_acquire) != NULL;
	for (; k != end && f->nr_after < MB_AFTER; k++) {
		struct task *q = ex->ring_it[k % MB_RING]->task;

		e = atomic_load_explicit(&q->fanout, memory_order_acquire);
		for (; e && e != EDGE_CLOSED; e = e->next) {
			if (e->consumer == t) {
				f->after[f->nr_after++] = q->seq;
				break;
			}
		}
	}
}

void sx_lane_kick(struct simpler_worker *w)
{
	void (*kick)(struct simpler_worker *w) = w->kick;

	if (kick)
		kick(w);
}

void sx_lane_post(struct exec *ex, struct qitem *it)
{
	struct simpler_worker *w = ex->w;
	struct mailbox *box = ex->mb;
	uint32_t posted = atomic_load_explicit(&ex->posted, memory_order_relaxed);

	frame_fill(w, &box->task[posted % MB_RING], it);
	if (ex->remote) {
		ex->ring_gate[posted % MB_RING] = (struct mb_gate){ 0 };
		if (atomic_load_explicit(&it->task->gated, memory_order_relaxed))
			frame_gate(ex, &ex->ring_gate[posted % MB_RING], it->task);
	}
	ex->ring_it[posted % MB_RING] = it;
	ex->ring_t[posted % MB_RING] = pass_clock(w);
	atomic_store_explicit(&ex->posted, posted + 1, memory_order_relaxed);
	/* seq_cst RMW: the frame is published, then the child's waiter check */
	atomic_exchange_explicit(&box->posted, posted + 1, memory_order_seq_cst);
	ec_notify_after_rmw(&box->child_ec);
	if (ex->remote)
		sx_lane_kick(w);
}

/* post it into free frame i of p's shared ring; waking someone is the caller's */
void sx_lane_pool_post(struct simpler_worker *w, struct pool *p, unsigned i, struct qitem *it)
{
	struct pool_ring *r = p->ring;

	frame_fill(w, &r->task[i], it);
	r->task[i].ran_on = -1;
	r->order[i] = ++p->pr_order;
	p->pr_it[i] = it;
	p->pr_t[i] = pass_clock(w);
	p->pr_used++;
	/* the frame, then its state (a claimer acquires it), then the count */
	atomic_store_explicit(&r->state[i], PR_POSTED, memory_order_release);
	atomic_fetch_add_explicit(&r->avail, 1, memory_order_seq_cst);
}

/*
 * A frame ex finished (posted at posted_ns): its failure or NULL.  How long
 * work stays in a process feeds its pool's average, for placing work for
 * any chip.
 */
static struct failure *frame_result(struct exec *ex, struct pool *p, const struct mb_task *f,
				    uint64_t posted_ns)
{
	bool restarted = ex->restarts && f->err == -EFAULT;

	pool_ewma(p, pass_clock(ex->w) - posted_ns);
	STAT_ADD(ex->st_staged, f->staged);
	if (!f->err)
		return NULL;
	/* a bad address after a restart: chip memory from before is gone */
	return sx_failure_or_oom(sx_failure_new(f->err, "%s%s%s", f->msg, restarted ? "; " : "",
						restarted ? ex->restart_note : ""));
}

/* ex died while it ran t */
static struct failure *died_running(struct exec *ex, const struct task *t)
{
	ex->dead_reported = true;
	if (ex->lost_err)
		return sx_failure_or_oom(sx_failure_new(ex->lost_err, "%s stopped responding while "
							"running %s '%s' (task #%" PRIu64 "): "
							"%s", ex->tag,
							callable_word(&ex->w->ctab->v[t->callable]),
							kernel_name(ex->w, t), t->seq, ex->death));
	return sx_failure_or_oom(sx_failure_new(-ECHILD, "%s died while running %s '%s' "
						"(task #%" PRIu64 "): %s", ex->tag,
						callable_word(&ex->w->ctab->v[t->callable]),
						kernel_name(ex->w, t), t->seq, ex->death));
}

/*
 * Frame i of p's shared ring, if it is over: done (its result), or claimed by
 * a process that died.  Then it is free again.
 */
bool sx_lane_pool_reap(struct simpler_worker *w, struct pool *p, unsigned i, struct qitem **it,
		       struct exec **ran, struct failure **fail)
{
	struct pool_ring *r = p->ring;
	/* acquire: pairs with the child's seq_cst exchange to DONE, made after its result */
	uint32_t st = atomic_load_explicit(&r->state[i], memory_order_acquire);
	const struct mb_task *f = &r->task[i];
	struct exec *ex;
	struct task *t;

	if (!p->pr_it[i] || st == PR_POSTED || st == PR_FREE)
		return false;
	*it = p->pr_it[i];
	t = (*it)->task;
	if (st == PR_DONE) {
		ex = slot_exec(w, f->ran_on);
		*fail = frame_result(ex, p, f, p->pr_t[i]);
	} else {
		ex = slot_exec(w, (int)(st - PR_CLAIMED));
		if (!exec_dead(ex))
			return false;	/* still running there */
		*fail = died_running(ex, t);
	}
	*ran = ex;
	p->pr_it[i] = NULL;
	p->pr_used--;
	/* release: the frame is read; pairs with the acquire of the next post's claimer */
	atomic_store_explicit(&r->state[i], PR_FREE, memory_order_release);
	return true;
}

/* nobody of p is left to claim frame i: take it back unrun */
bool sx_lane_pool_unpost(struct pool *p, unsigned i, struct qitem **it)
{
	uint32_t posted = PR_POSTED;

	/* acq_rel CAS: against a claimer's CAS on the same state, one of the two wins */
	if (!p->pr_it[i] || !atomic_compare_exchange_strong_explicit(&p->ring->state[i], &posted,
								     PR_FREE, memory_order_acq_rel,
								     memory_order_relaxed))
		return false;
	atomic_fetch_sub_explicit(&p->ring->avail, 1, memory_order_relaxed);
	*it = p->pr_it[i];
	p->pr_it[i] = NULL;
	p->pr_used--;
	return true;
}

bool sx_lane_reap(struct exec *ex, struct qitem **it, struct failure **fail)
{
	struct mailbox *box = ex->mb;
	uint32_t reaped = atomic_load_explicit(&ex->reaped, memory_order_relaxed);
	uint32_t posted = atomic_load_explicit(&ex->posted, memory_order_relaxed);
	uint32_t slot = reaped % MB_RING;
	const struct mb_task *f = &box->task[slot];
	struct task *t;
	bool gone;

	if (reaped == posted)
		return false;
	/* death first: a child that finished frames before dying wrote done before */
	gone = exec_dead(ex);
	*it = ex->ring_it[slot];
	t = (*it)->task;
	if (atomic_load_explicit(&box->done, memory_order_acquire) != reaped) {
		*fail = frame_result(ex, ex->pool, f, ex->ring_t[slot]);
	} else if (gone) {
		/* the frame it was running, then those behind it */
		*fail = ex->dead_reported ? sx_lane_dead_failure(ex, t) : died_running(ex, t);
	} else {
		return false;
	}
	atomic_store_explicit(&ex->reaped, ++reaped, memory_order_relaxed);
	/* a dead child's frames are all accounted for: its successor starts after them */
	if (gone && reaped == posted)
		atomic_store_explicit(&box->done, posted, memory_order_release);
	return true;
}

bool sx_lane_reapable(struct exec *ex)
{
	uint32_t reaped = atomic_load_explicit(&ex->reaped, memory_order_relaxed);

	return reaped != atomic_load_explicit(&ex->posted, memory_order_relaxed) &&
	       /* acquire: pairs with the child's seq_cst exchange of done, after the result */
	       (atomic_load_explicit(&ex->mb->done, memory_order_acquire) != reaped || exec_dead(ex));
}

int sx_lane_ctl(struct exec *ex, uint32_t op, uint64_t a0, uint64_t a1, uint64_t *r0, char *msg,
		size_t len)
{
	struct simpler_worker *w = ex->w;
	struct mailbox *box = ex->mb;
	int ret;

	/* the caller holds ex->ctl_lock */
	if (exec_dead(ex) && ex->lost_err) {
		snprintf(msg, len, "%s was lost (%s)", ex->tag, ex->death);
		return ex->lost_err;
	}
	if (exec_dead(ex)) {
		snprintf(msg, len, "%s is dead (%s); it restarts at the next run", ex->tag,
			 ex->death);
		return -ECHILD;
	}
	box->ctl.op = op;
	box->ctl.a0 = a0;
	box->ctl.a1 = a1;
	/*
	 * seq_cst RMW: the command is published (the child's acquire load of
	 * ctl_state pairs with it), then the child's waiter check.  The child
	 * stores DONE after its result; our acquire loads below pair with that.
	 */
	atomic_exchange_explicit(&box->ctl_state, MB_POSTED, memory_order_seq_cst);
	ec_notify_after_rmw(&box->child_ec);
	if (ex->remote)
		sx_lane_kick(w);
	EC_WAIT_UNTIL(&box->parent_ec, w->spin_ns,
		      atomic_load_explicit(&box->ctl_state, memory_order_acquire) == MB_DONE ||
		      exec_dead(ex));
	if (atomic_load_explicit(&box->ctl_state, memory_order_acquire) != MB_DONE) {
		snprintf(msg, len, "%s %s: %s", ex->tag, ex->lost_err ? "was lost" : "died",
			 ex->death);
		return ex->lost_err ? ex->lost_err : -ECHILD;
	}
	ret = box->ctl.err;
	if (r0)
		*r0 = box->ctl.r0;
	if (ret)
		snprintf(msg, len, "%s%s%s", box->ctl.msg, ex->restarts ? "; " : "",
			 ex->restarts ? ex->restart_note : "");
	atomic_store_explicit(&box->ctl_state, MB_IDLE, memory_order_relaxed);
	return ret;
}

void sx_lane_unmap_all(struct simpler_worker *w, uint64_t kh)
{
	char msg[64];
	int i;

	for (i = 0; i < nslots(w); i++) {
		struct exec *ex = slot_exec(w, i);

		pthread_mutex_lock(&ex->ctl_lock);
		sx_lane_ctl(ex, MB_OP_UNMAP, kh, 0, NULL, msg, sizeof(msg));
		pthread_mutex_unlock(&ex->ctl_lock);
	}
}

