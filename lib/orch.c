// SPDX-License-Identifier: MIT
/*
 * The orchestrator: simpler_run(), submission, scopes, simpler_orch_alloc().
 *
 * Submit takes a free slot (recycling its previous tenant's TensorMap
 * registrations and edges), copies the arguments, asks the TensorMap for the
 * tasks it must wait for and wires an edge to each, then publishes it:
 * `pending` starts at 1 (the building guard), each edge adds 1 before it
 * becomes visible to the producer, and dropping the guard readies the task
 * if no producer is left.  The slot ring bounds memory: with every slot in
 * flight, submit sleeps until an executor gives one back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "base/arena.h"
#include "base/tensor.h"
#include "base/vec.h"
#include "chip/bootstrap.h"
#include "hostmem.h"
#include "mailbox.h"
#include "orch.h"
#include "proc.h"
#include "scheduler.h"
#include "tensormap.h"

/* the previous tenant of t is finished: drop what the orchestrator kept of it */
static void task_recycle(struct simpler_worker *w, struct task *t)
{
	struct edge *e, *next;
	uint32_t i;

	for (i = 0; i < t->nr_refs; i++)
		sx_tm_release(w->tm, &t->refs[i]);
	t->nr_refs = 0;
	for (e = t->edges; e; e = next) {
		next = e->owner_next;
		e->owner_next = w->edge_pool;
		w->edge_pool = e;
	}
	t->edges = NULL;
	if (t->failure) {
		sx_failure_put(t->failure);
		t->failure = NULL;
	}
}

/* the finishers' free slots, all of them (acquire: pairs with their seq_cst push CAS) */
static struct task *slots_take(struct simpler_worker *w)
{
	struct task *t = atomic_exchange_explicit(&w->free_shared, NULL, memory_order_acquire);
	int32_t n = 0;

	if (w->mode_threads)
		return t;	/* no count: see slot_get() */
	for (struct task *i = t; i; i = i->free_next)
		n++;
	/* a finisher between its push and its count makes this briefly low: harmless */
	atomic_fetch_sub_explicit(&w->nr_free_shared, n, memory_order_relaxed);
	return t;
}

/* enough free slots for the orchestrator to go on (slot_want; any one in thread mode) */
static bool slots_enough(struct simpler_worker *w)
{
	if (w->mode_threads)
		return atomic_load_explicit(&w->free_shared, memory_order_relaxed);
	return atomic_load_explicit(&w->nr_free_shared, memory_order_relaxed) >=
	       atomic_load_explicit(&w->slot_want, memory_order_relaxed);
}

/*
 * A free slot: a recycled one if any (its memory and its arrays are warm),
 * else one never used, else wait until one comes back.  So a program's
 * slots in use are about as many as it keeps in flight, not the whole
 * ring: taking fresh slots first made a chain of 1000 tasks in a 4096 ring
 * touch a new quarter of the ring each run, first-use allocations and page
 * faults (~250 a run at 11 us each on a paravirtualised host) and cold
 * cache lines until every slot had been used once, a run 12-20 ms
 * instead of 2.5-3.9.
 *
 * Waiting, in process mode it waits for a
 * batch of them (ring_size / 32) rather than one, so that a long run of
 * short tasks does not hand the dispatch back and forth between the
 * orchestrator and the dispatcher thread once a task; every slot in flight
 * comes back without the orchestrator's help, so the batch comes.  Thread
 * mode's finishers are the executors themselves, each on its own CPU: a
 * count they all update would cost every task more than the wake-ups it
 * saves, so there any slot will do.
 */
static struct task *slot_get(struct simpler_worker *w)
{
	struct task *t = w->free_local;
	int32_t batch = (int32_t)(w->ring_size / 32) ?: 1;

	if (!t)
		t = slots_take(w);
	if (!t && w->free_fresh) {
		t = w->free_fresh;
		w->free_fresh = t->free_next;
		t->free_next = NULL;
		STAT_ADD(w->st_slots_used, 1);
	}
	if (!t) {
		STAT_ADD(w->st_submit_waits, 1);
		/* seq_cst: before the finishers' count, which they compare with it */
		atomic_store_explicit(&w->slot_want, batch, memory_order_seq_cst);
		/* slots come back as tasks are reaped: reap them ourselves */
		if (!w->mode_threads)
			SCHED_HELP_UNTIL(w, slots_enough(w), false);
		EC_WAIT_UNTIL(&w->slot_ec, w->mode_threads ? w->spin_ns : sx_sched_spin_ns(w),
			      slots_enough(w));
		atomic_store_explicit(&w->slot_want, 0, memory_order_relaxed);
		t = slots_take(w);
	}
	w->free_local = t->free_next;
	task_recycle(w, t);
	return t;
}

/* give back a slot that was never published */
static void slot_put(struct simpler_worker *w, struct task *t)
{
	atomic_store_explicit(&t->state, TS_FREE, memory_order_relaxed);
	t->free_next = w->free_local;
	w->free_local = t;
}

/* ---- scope frames ---- */

/* dead frames: free their arena memory and recycle them */
void sx_orch_reclaim(struct simpler_worker *w)
{
	/* acquire: pairs with the release CAS in sx_frame_put() */
	struct frame *f = atomic_exchange_explicit(&w->frames_dead, NULL, memory_order_acquire);
	struct frame *next;

	for (; f; f = next) {
		next = f->done_next;
		sx_arena_free_list(w->arena, f->allocs);
		f->allocs = NULL;
		f->parent = w->frame_pool;
		w->frame_pool = f;
	}
}

static struct frame *frame_new(struct simpler_worker *w, struct frame *parent)
{
	struct frame *f = w->frame_pool;

	if (f)
		w->frame_pool = f->parent;
	else if (!(f = calloc(1, sizeof(*f))))
		return NULL;
	atomic_init(&f->refs, FRAME_BIAS);	/* open */
	f->counted = 0;
	f->parent = parent;
	f->allocs = NULL;
	f->depth = parent ? parent->depth + 1 : 1;
	if (parent)
		parent->counted++;	/* the child holds its parent */
	return f;
}


/* o is an orch of a run in progress: 0, or -EINVAL with a message naming op */
static int orch_check(struct simpler_orch *o, const char *op)
{
	if (!o)
		return werr(NULL, -EINVAL, "%s: NULL orch", op);
	if (!o->active)
		return werr(o->w, -EINVAL, "%s: this orch's run is over: use the orch that "
			    "simpler_run() passes to the orchestration function, and only until "
			    "that function returns", op);
	return 0;
}

SIMPLER_API int simpler_scope_begin(struct simpler_orch *o)
{
	struct simpler_worker *w;
	struct frame *f;
	int ret = orch_check(o, "scope_begin");

	if (ret)
		return ret;
	w = o->w;
	if (o->depth >= MAX_SCOPE_DEPTH)
		return werr(w, -EINVAL, "scope_begin: scopes nest at most %d deep "
			    "(the run's own scope counts as one)", MAX_SCOPE_DEPTH);
	f = frame_new(w, o->scope);
	if (!f)
		return werr(w, -ENOMEM, "scope_begin: out of memory");
	o->scope = f;
	o->depth++;
	return 0;
}

static void scope_close(struct simpler_orch *o)
{
	struct frame *f = o->scope;

	o->scope = f->parent;
	o->depth--;
	atomic_fetch_add_explicit(&o->w->frames_closed, 1, memory_order_relaxed);
	/* drop the open bias, keeping one reference per task and child counted */
	sx_frame_put(o->w, f, FRAME_BIAS - f->counted);
}

SIMPLER_API int simpler_scope_end(struct simpler_orch *o)
{
	int ret = orch_check(o, "scope_end");

	if (ret)
		return ret;
	if (o->depth <= 1)
		return werr(o->w, -EINVAL, "scope_end without a matching scope_begin");
	scope_close(o);
	return 0;
}

SIMPLER_API void *simpler_orch_alloc(struct simpler_orch *o, size_t nbytes)
{
	struct simpler_worker *w;
	struct arena_block *b;

	if (orch_check(o, "orch_alloc")) {
		errno = EINVAL;
		return NULL;
	}
	w = o->w;
	if (!nbytes) {
		werr(w, -EINVAL, "orch_alloc: 0 bytes asked for");
		errno = EINVAL;
		return NULL;
	}
	for (;;) {
		sx_orch_reclaim(w);
		b = sx_arena_alloc(w->arena, nbytes);
		if (b)
			break;
		if (errno != ENOMEM)
			return NULL;
		/*
		 * Only frames that ended can give memory back.  A finisher
		 * pushes a dead frame before it drops frames_closed, so a
		 * frame may have died since sx_orch_reclaim() above: reclaim
		 * it before calling the arena full.
		 */
		if (!atomic_load_explicit(&w->frames_closed, memory_order_acquire)) {
			if (atomic_load_explicit(&w->frames_dead, memory_order_relaxed))
				continue;
			werr(w, -ENOMEM, "orch_alloc: %zu bytes do not fit in the arena "
			     "(%" PRIu64 " of %" PRIu64 " bytes held by open scopes): "
			     "end scopes sooner or raise arena_size", nbytes,
			     sx_arena_used(w->arena), sx_arena_size(w->arena));
			errno = ENOMEM;
			return NULL;
		}
		/* frames die as their tasks are reaped */
		if (!w->mode_threads)
			SCHED_HELP_UNTIL(w, atomic_load_explicit(&w->frames_dead,
								 memory_order_relaxed) ||
				 !atomic_load_explicit(&w->frames_closed, memory_order_relaxed),
				 false);
		EC_WAIT_UNTIL(&w->frame_ec, w->spin_ns,
			      atomic_load_explicit(&w->frames_dead, memory_order_relaxed) ||
			      !atomic_load_explicit(&w->frames_closed, memory_order_relaxed));
	}
	b->next = o->scope->allocs;
	o->scope->allocs = b;
	return arena_ptr(b);
}

SIMPLER_API struct simpler_worker *simpler_orch_worker(struct simpler_orch *o)
{
	if (!o) {
		werr(NULL, -EINVAL, "orch_worker: NULL orch");
		errno = EINVAL;
		return NULL;
	}
	return o->w;
}

/* ---- dependencies ---- */

static struct edge *edge_get(struct simpler_worker *w)
{
	struct edge *e = w->edge_pool;

	if (e) {
		w->edge_pool = e->owner_next;
		return e;
	}
	return malloc(sizeof(*e));
}

struct wire_ctx {
	struct simpler_worker *w;
	int err;
	int gate;		/* the remote node the task may be queued on ahead, or -1 */
	uint32_t edges;		/* edges wired */
};

/* c must not start before p finished (tm_dep_fn) */
static void wire(struct task *c, struct task *p, void *arg)
{
	struct wire_ctx *x = arg;
	struct edge *e, *head;
	uint32_t st;

	if (p == c || p->stamp == c->stamp)
		return;		/* no self-edges; one edge per producer */
	p->stamp = c->stamp;
	/* pairs with the release store of the final state in sx_task_finish() */
	st = atomic_load_explicit(&p->state, memory_order_acquire);
	if (st >= TS_DONE) {
		if (p->failure)
			task_poison(c, p->failure);
		return;
	}
	e = edge_get(x->w);
	if (!e) {
		x->err = -ENOMEM;
		return;
	}
	e->consumer = c;
	e->owner_next = c->edges;
	c->edges = e;
	/* counted before it is visible: the producer may release it at once */
	atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
	head = atomic_load_explicit(&p->fanout, memory_order_acquire);
	do {
		if (head == EDGE_CLOSED) {
			/* finished meanwhile; its state is visible after the close */
			atomic_fetch_sub_explicit(&c->pending, 1, memory_order_relaxed);
			if (p->failure)	/* written before the close we just acquired */
				task_poison(c, p->failure);
			return;
		}
		e->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&p->fanout, &head, e,
							memory_order_release,
							memory_order_acquire));
	STAT_ADD(x->w->st_edges, 1);
	/*
	 * Gating on p: p runs on the same node and is on that node's queue
	 * already (acquire: pairs with the release after its push), so a push
	 * of c now lands behind it.
	 */
	if (x->gate < 0)
		return;
	if (++x->edges > TASK_GATE_MAX || p->nr_members != 1 || p->sub ||
	    p->members[0].target != x->gate ||
	    !atomic_load_explicit(&p->queued, memory_order_acquire))
		x->gate = -1;
}

/*
 * May t be queued on its node ahead of its producers?  A remote node runs
 * its tasks one at a time in the order they reach it, so a task whose
 * every unfinished producer is queued on the same node before it can go
 * now (the node runs it after them, and only if they succeed), saving a
 * round trip to rank 0 per dependent task.  Not when it reads an L4 host
 * tensor: those bytes travel with the task, and a producer still running
 * may be writing them.  Its node, or -1.
 */
static int gate_node(struct simpler_worker *w, const struct task *t)
{
	uint32_t i;
	int node;

	if (w->mode_threads || t->nr_members != 1 || t->sub)
		return -1;
	node = t->members[0].target;
	if (!node_remote(w, node))
		return -1;
	for (i = 0; i < t->nr_tensors; i++)
		if (!t->tensors[i].child_memory && t->acc[i] != SIMPLER_OUT &&
		    simpler_tensor_nbytes(&t->tensors[i]))
			return -1;
	return node;
}

/* ---- submission ---- */

/* OUT, INOUT, OUT_EXISTING: the accesses that write and are ordered (NO_DEP is neither) */
static bool writes_tracked(unsigned acc)
{
	return acc == SIMPLER_OUT || acc == SIMPLER_INOUT || acc == SIMPLER_OUT_EXISTING;
}


static int check_target(struct simpler_worker *w, bool sub, int target)
{
	struct pool *p = sub ? &w->subs : &w->chips;

	if (sub && !w->subs.n)
		return werr(w, -EINVAL, "submit: SIMPLER_SUBMIT_SUB but the worker has no sub "
			    "workers (set nr_subs)");
	if (target < -1 || target >= p->n)
		return werr(w, -EINVAL, "submit: %s %d does not exist (the worker has %d; "
			    "-1 means any)", pool_kind(w, p), target, p->n);
	if (!sub && node_remote(w, target) && exec_dead(&p->ex[target]))
		return werr(w, p->ex[target].lost_err, "submit: %s was lost (%s): it takes no more "
			    "tasks", p->ex[target].tag, p->ex[target].death);
	return 0;
}

/*
 * L4: a task that names no node but node memory runs where that memory is
 * (the first written node-memory tensor's node, else the first read one's):
 * no transfer, and a local node is never handed remote memory.
 */
static int node_of_memory(struct simpler_worker *w, const struct simpler_args *a)
{
	int owner = -1;
	uint32_t i;

	for (i = 0; a && i < a->nr_tensors; i++) {
		if (!a->tensors[i].child_memory)
			continue;
		if (writes_tracked(a->acc[i]) || a->acc[i] == SIMPLER_NO_DEP)
			return node_mem_owner(a->tensors[i].addr);
		if (owner < 0)
			owner = node_mem_owner(a->tensors[i].addr);
	}
	return owner;
}

/*
 * Node fns run on the nodes of an L4, kernels on chips and subs (an L4's
 * subs included): each callable where it can run.
 */
static int check_kind(struct simpler_worker *w, int callable, bool sub, uint32_t block_dim)
{
	const struct shared_callable *c = &w->ctab->v[callable];
	bool node_fn = c->kind == CALLABLE_NODE_FN;

	if (node_fn == (w->nodes && !sub)) {
		if (node_fn && block_dim > 1)
			return werr(w, -EINVAL, "submit: node fn '%s' runs once per task: "
				    "block_dim %u must be 1", c->name, block_dim);
		return 0;
	}
	if (node_fn && !w->nodes)
		return werr(w, -EINVAL, "submit: '%s' is a node function: it runs on a node of "
			    "an L4 worker, not on a chip or sub", c->name);
	if (node_fn)
		return werr(w, -EINVAL, "submit: '%s' is a node function: it runs on a node, "
			    "not on a sub (drop SIMPLER_SUBMIT_SUB)", c->name);
	return werr(w, -EINVAL, "submit: '%s' is a kernel: on an L4 worker kernels run on its "
		    "subs (SIMPLER_SUBMIT_SUB) and node functions (simpler_register_node_fn()) on "
		    "its nodes", c->name);
}

/* how a message names member m of t: "submit", or "submit_group: member 2" */
static void member_where(const struct task *t, uint32_t m, char *buf, size_t len)
{
	if (t->nr_members > 1)
		snprintf(buf, len, "submit_group: member %u", m);
	else
		snprintf(buf, len, "submit");
}

/* a written argument of one member: its span, in which address space */
struct wrange {
	uint64_t s, e;
	uint32_t idx;
	bool chip;		/* chip memory of the member's chip, else host memory */
	const uint64_t *strides;	/* a view's, else NULL */
};

static int wrange_cmp(const void *a, const void *b)
{
	const struct wrange *x = a, *y = b;

	if (x->chip != y->chip)
		return x->chip < y->chip ? -1 : 1;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* do two written arguments share a byte?  Views interleave without sharing one */
static bool wrange_overlap(const struct simpler_tensor *ts, const struct wrange *x,
			   const struct wrange *y)
{
	struct sx_layout a, b;

	if (x->chip != y->chip || x->s >= y->e || y->s >= x->e)
		return false;
	if (!x->strides && !y->strides)
		return true;
	sx_layout_of(&ts[x->idx], x->strides, &a);
	sx_layout_of(&ts[y->idx], y->strides, &b);
	return sx_layout_overlap(&a, x->s, &b, y->s) != 0;
}

/*
 * Two arguments of one member may not write overlapping bytes (which one
 * lands would depend on the kernel's order, and staging copies both back):
 * refused with both named.  Pairwise for a few; beyond, sorted by start,
 * each against the spans that begin inside its own.  strides: the views'
 * (NULL: no views).
 */
static int check_writes(struct simpler_worker *w, const struct task *t, uint32_t m,
			const struct simpler_tensor *ts, const uint8_t *acc,
			const uint64_t (*strides)[SIMPLER_MAX_DIMS], uint32_t nt)
{
	struct wrange r[SIMPLER_MAX_TENSORS], *x = NULL, *y = NULL;
	uint32_t i, j, n = 0;
	char where[48];

	for (i = 0; i < nt; i++) {
		const uint64_t *st = sx_strides_at(strides, i);
		uint64_t len = sx_arg_span(&ts[i], st);

		if (writes_tracked(acc[i]) && len)
			r[n++] = (struct wrange){ ts[i].addr, ts[i].addr + len, i,
						  ts[i].child_memory != 0, st };
	}
	if (n <= 16) {
		for (i = 0; i < n && !x; i++)
			for (j = i + 1; j < n && !x; j++)
				if (wrange_overlap(ts, &r[i], &r[j])) {
					x = &r[i];
					y = &r[j];
				}
	} else {
		qsort(r, n, sizeof(*r), wrange_cmp);
		for (i = 0; i + 1 < n && !x; i++)
			for (j = i + 1; j < n && !x && r[j].chip == r[i].chip &&
				    r[j].s < r[i].e; j++)
				if (wrange_overlap(ts, &r[i], &r[j])) {
					x = &r[i];
					y = &r[j];
				}
	}
	if (!x)
		return 0;
	if (x->idx > y->idx) {
		struct wrange *z = x;

		x = y;
		y = z;
	}
	member_where(t, m, where, sizeof(where));
	return werr(w, -EINVAL, "%s: tensors %u and %u write overlapping bytes of %s memory "
		    "(0x%" PRIx64 "..0x%" PRIx64 " and 0x%" PRIx64 "..0x%" PRIx64 "): a task "
		    "writes each byte through one argument only (pass it once, INOUT)", where,
		    x->idx, y->idx, x->chip ? "chip" : "host", x->s, x->e, y->s, y->e);
}

/*
 * The strides of tensors [t0, t0 + nt) of t, from a: views keep theirs,
 * plain tensors get [0] = 0.  Only tasks with a view carry strides at all.
 */
static int add_strides(struct simpler_worker *w, struct task *t, const struct simpler_args *a,
		       uint32_t t0, uint32_t nt)
{
	uint32_t i;

	if (VEC_RESERVE(t->strides, t0 + nt, t->cap_strides, 4))
		return werr(w, -ENOMEM, "submit: out of memory");
	if (!t->has_views) {
		/* the first view of the task: the members before it had none */
		for (i = 0; i < t0; i++)
			t->strides[i][0] = 0;
		t->has_views = true;
	}
	if (a && a->nr_views)
		memcpy(t->strides[t0], a->strides, nt * sizeof(*t->strides));
	else
		for (i = t0; i < t0 + nt; i++)
			t->strides[i][0] = 0;
	return 0;
}

/*
 * Tensor i of an L4 task for node target is node memory (child_memory): a
 * remote node's, which the task's node may read (another node's arrives by
 * an inferred transfer) and write only if it is its own.
 */
static int check_node_memory(struct simpler_worker *w, const struct simpler_tensor *x, unsigned acc,
			     uint32_t i, int target, unsigned flags)
{
	int owner = node_mem_owner(x->addr);

	if (!node_remote(w, owner))
		return werr(w, -EINVAL, "submit: tensor %u at 0x%" PRIx64 " is child_memory but no "
			    "remote node's memory (simpler_malloc() on a remote node gives that; a "
			    "node fn's chip memory lives on its node's own worker)", i, x->addr);
	if (owner == target)
		return 0;
	if (target < 0)
		return werr(w, -EINVAL, "submit: tensor %u is node %d's memory but the task names "
			    "no node: set opts.worker", i, owner);
	if (!node_remote(w, target))
		return werr(w, -EXDEV, "submit: tensor %u is node %d's memory, which node %d (forked "
			    "on this host) cannot read: run the task on a remote node", i, owner,
			    target);
	if (writes_tracked(acc) || acc == SIMPLER_NO_DEP)
		return werr(w, -EXDEV, "submit: tensor %u writes node %d's memory but the task runs "
			    "on node %d: a task writes only its own node's memory (run it on node %d)",
			    i, owner, target, owner);
	if (flags & SIMPLER_SUBMIT_NO_TRANSFER)
		return werr(w, -EXDEV, "submit: tensor %u is node %d's memory and the task runs on "
			    "node %d: SIMPLER_SUBMIT_NO_TRANSFER refuses the transfer that needs", i,
			    owner, target);
	return 0;
}

static int add_member(struct simpler_worker *w, struct task *t, uint32_t m,
		      const struct simpler_args *a, int target, unsigned flags)
{
	struct member *mb = &t->members[m];
	uint32_t i, nt = a ? a->nr_tensors : 0, ns = a ? a->nr_scalars : 0;

	/* simpler_args_add_* validated every tensor; a refused one poisons the args */
	if (unlikely(a && a->err)) {
		char where[48];

		member_where(t, m, where, sizeof(where));
		return werr(w, a->err, "%s: an argument was refused when it was added, so the "
			    "task would run without it: %s (simpler_args_reset() the args and add "
			    "valid ones)", where, a->why);
	}
	if (nt > 1) {
		int ret = check_writes(w, t, m, a->tensors, a->acc,
				       a->nr_views ? a->strides : NULL, nt);

		if (ret)
			return ret;
	}
	if (t->nr_tensors + nt > t->cap_tensors) {
		/* three arrays of one capacity: it grows only once all three did */
		size_t c = vec_grown(t->cap_tensors, t->nr_tensors + nt, 4);

		if (VEC_RESIZE(t->tensors, c) || VEC_RESIZE(t->acc, c) || VEC_RESIZE(t->reg, c))
			return werr(w, -ENOMEM, "submit: out of memory");
		t->cap_tensors = c;
	}
	if (VEC_RESERVE(t->scalars, t->nr_scalars + ns, t->cap_scalars, 4))
		return werr(w, -ENOMEM, "submit: out of memory");
	mb->t0 = t->nr_tensors;
	mb->nt = nt;
	mb->s0 = t->nr_scalars;
	mb->ns = ns;
	mb->target = target;
	mb->item.task = t;
	mb->item.member = m;
	if (nt) {
		memcpy(&t->tensors[mb->t0], a->tensors, nt * sizeof(*t->tensors));
		memcpy(&t->acc[mb->t0], a->acc, nt);
	}
	if ((a && a->nr_views) || t->has_views) {
		int ret = add_strides(w, t, a, mb->t0, nt);

		if (ret)
			return ret;
	}
	if (ns)
		memcpy(&t->scalars[mb->s0], a->scalars, ns * sizeof(*t->scalars));
	t->nr_tensors += nt;
	t->nr_scalars += ns;

	for (i = 0; i < nt; i++) {
		const struct simpler_tensor *x = &t->tensors[mb->t0 + i];
		struct sx_layout lay;
		uint64_t span;
		int ret;

		t->reg[mb->t0 + i] = 0;
		if (x->child_memory && w->nodes && !t->sub) {
			ret = check_node_memory(w, x, t->acc[mb->t0 + i], i, target, flags);
			if (ret)
				return ret;
			continue;
		}
		if (x->child_memory) {
			if (t->sub || target < 0)
				return werr(w, -EINVAL,
					    "submit: tensor %u at 0x%" PRIx64 " is chip memory "
					    "(child_memory) but the task names no chip: set "
					    "opts.worker (or the group's workers) to the chip that "
					    "allocated it", i, x->addr);
			continue;
		}
		sx_layout_of(x, task_strides(t, mb->t0 + i), &lay);
		span = sx_layout_span(&lay);
		if (writes_tracked(t->acc[mb->t0 + i])) {
			ret = sx_hostmem_check_write(w, x->addr, span, t->acc[mb->t0 + i], i);
			if (ret)
				return ret;
		}
		/*
		 * another process runs it: the host memory must be visible there
		 * (a remote node's task is staged by this process, which sees it all)
		 */
		if (!w->mode_threads && !node_remote(w, target)) {
			ret = sx_hostmem_submit(w, x->addr, span, lay.nd != 0, t->acc[mb->t0 + i], i,
						&t->reg[mb->t0 + i]);
			if (ret)
				return ret;
			t->has_reg |= t->reg[mb->t0 + i] != 0;
		}
	}
	return 0;
}

/*
 * Register every tracked tensor of t with the TensorMap, wiring edges;
 * *gated: t may be queued on its node now, ahead of the producers it got.
 */
static int track(struct simpler_worker *w, struct task *t, bool *gated)
{
	struct wire_ctx x = { .w = w, .gate = gate_node(w, t) };
	uint32_t m, i, need = 0;
	uint64_t nbytes;
	int ret;

	for (i = 0; i < t->nr_tensors; i++)
		need += t->acc[i] != SIMPLER_NO_DEP;
	/* refs are linked into records: size them before linking any */
	if (VEC_RESERVE(t->refs, need, t->cap_refs, 4))
		return werr(w, -ENOMEM, "submit: out of memory");
	for (m = 0; m < t->nr_members; m++) {
		const struct member *mb = &t->members[m];

		for (i = mb->t0; i < mb->t0 + mb->nt; i++) {
			const struct simpler_tensor *ts = &t->tensors[i];
			const uint64_t *st = task_strides(t, i);
			struct sx_layout lay;
			uint32_t space = 0;

			if (t->acc[i] == SIMPLER_NO_DEP)
				continue;
			if (st)
				sx_layout_of(ts, st, &lay);
			nbytes = st ? sx_layout_span(&lay) : simpler_tensor_nbytes(ts);
			if (!nbytes)
				continue;
			/*
			 * chip memory is per chip; comm windows are one space for all;
			 * node memory is its node's, wherever the task runs
			 */
			if (ts->child_memory && w->nodes)
				space = 1 + (uint32_t)node_mem_owner(ts->addr);
			else if (ts->child_memory &&
				 !(w->boot && boot_in_windows(w->boot, ts->addr, nbytes)))
				space = 1 + (uint32_t)mb->target;
			ret = sx_tm_access_layout(w->tm, t, &t->refs[t->nr_refs], space, ts->addr,
						  ts->addr + nbytes, st && lay.nd ? &lay : NULL,
						  t->acc[i], wire, &x);
			if (ret < 0)
				return werr(w, ret, "submit: out of memory in the TensorMap");
			t->nr_refs++;
			if (ret)
				STAT_ADD(w->st_fast, 1);
			else
				STAT_ADD(w->st_slow, 1);
		}
	}
	if (x.err)
		return werr(w, x.err, "submit: out of memory for dependency edges");
	*gated = x.gate >= 0 && x.edges;
	return 0;
}

/* fail-fast: the run's first failure, if any */
static int run_failed(struct simpler_worker *w)
{
	/* acquire: pairs with the release CAS in sx_task_finish(): the failure's message */
	struct failure *f = atomic_load_explicit(&w->run.first, memory_order_acquire);

	if (!f)
		return 0;
	return werr(w, f->err, "submit refused: the run already failed: %s", f->msg);
}

/* common tail: publish t, whose members and arguments are set */
static int publish(struct simpler_worker *w, struct task *t)
{
	struct failure *f;
	bool ready, gated = false;
	int ret;

	ret = track(w, t, &gated);
	/*
	 * The frame and the run learn of t when they close.  A task whose
	 * tracking failed counts too: edges may already point at it, so it must
	 * still finish normally, as a failure, for every producer's release to
	 * find a live task (and tasks_failed never exceeds tasks_submitted).
	 */
	t->frame = w->orch.scope;
	t->frame->counted++;
	w->run.submitted++;
	STAT_ADD(w->st_submitted, 1);
	if (ret) {
		f = sx_failure_or_oom(sx_failure_new(ret, "%s", w->errmsg));
		task_poison(t, f);
		sx_failure_put(f);
		/* acq_rel: the BUILDING count goes; whoever reaches 0 sees the wiring */
		if (atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel) == 1)
			sx_task_ready(t);
		if (!w->mode_threads)
			sx_sched_submitted(w, true);
		return ret;
	}
	if (gated) {
		/* queued now: its result finishes it, whoever releases it last */
		atomic_store_explicit(&t->gated, true, memory_order_relaxed);
		sx_task_gate(t);
		/* the building guard; pairs with the finishers' decrements */
		atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel);
		sx_sched_submitted(w, false);
		return (int)(t->seq & INT32_MAX);
	}
	atomic_store_explicit(&t->state, TS_PENDING, memory_order_relaxed);
	/* drop the building guard; pairs with the finishers' decrements */
	ready = atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel) == 1;
	if (ready)
		sx_task_ready(t);
	if (!w->mode_threads)
		sx_sched_submitted(w, ready);
	return (int)(t->seq & INT32_MAX);
}

static struct task *task_begin(struct simpler_worker *w, int callable, uint32_t nmembers)
{
	struct task *t = slot_get(w);

	if (VEC_RESERVE(t->members, nmembers, t->cap_members, 4)) {
		slot_put(w, t);
		werr(w, -ENOMEM, "submit: out of memory");
		return NULL;
	}
	t->run = &w->run;
	t->seq = w->run.next_seq;
	t->stamp = ++w->orch_stamp;
	t->callable = callable;
	t->nr_members = nmembers;
	t->nr_tensors = 0;
	t->nr_scalars = 0;
	t->block_dim = 1;
	t->sub = false;
	t->has_reg = false;
	t->has_views = false;
	atomic_store_explicit(&t->state, TS_BUILDING, memory_order_relaxed);
	atomic_store_explicit(&t->pending, 1, memory_order_relaxed);
	atomic_store_explicit(&t->fanout, NULL, memory_order_relaxed);
	atomic_store_explicit(&t->poison, NULL, memory_order_relaxed);
	atomic_store_explicit(&t->g_arrived, 0, memory_order_relaxed);
	atomic_store_explicit(&t->g_done, 0, memory_order_relaxed);
	atomic_store_explicit(&t->g_fail, NULL, memory_order_relaxed);
	atomic_store_explicit(&t->gated, false, memory_order_relaxed);
	atomic_store_explicit(&t->queued, false, memory_order_relaxed);
	return t;
}

static int check_submit(struct simpler_orch *o, int callable)
{
	struct simpler_worker *w;
	uint32_t n;
	int ret;

	ret = orch_check(o, "submit");
	if (ret)
		return ret;
	w = o->w;
	n = nr_callables(w);
	if (callable < 0 || (uint32_t)callable >= n)
		return werr(w, -EINVAL, "submit: callable %d is not registered (ids 0..%d exist)",
			    callable, (int)n - 1);
	/* process mode: what finished while we were away is known before we look */
	if (!w->mode_threads)
		sx_sched_catch_up(w);
	return run_failed(w);
}

SIMPLER_API int simpler_submit(struct simpler_orch *o, int callable, const struct simpler_args *a,
			       const struct simpler_submit_opts *opts)
{
	struct simpler_worker *w;
	unsigned flags = OPTS_GET(opts, flags, 0);
	int target = OPTS_GET(opts, worker, -1);
	uint32_t block_dim = OPTS_OR(opts, block_dim, 1);
	bool sub = flags & SIMPLER_SUBMIT_SUB;
	struct task *t;
	int ret;

	ret = check_submit(o, callable);
	if (ret)
		return ret;
	w = o->w;
	ret = sx_opts_in(opts, sizeof(*opts), "submit", "simpler_submit_opts", worker_errbuf(w));
	if (ret)
		return ret;
	if (flags & ~(SIMPLER_SUBMIT_SUB | SIMPLER_SUBMIT_NO_TRANSFER))
		return werr(w, -EINVAL, "submit: unknown flags 0x%x",
			    flags & ~(SIMPLER_SUBMIT_SUB | SIMPLER_SUBMIT_NO_TRANSFER));
	if (block_dim > 65536)
		return werr(w, -EINVAL, "submit: block_dim %u exceeds 65536", block_dim);
	if (w->nodes && !sub && target < 0)
		target = node_of_memory(w, a);
	ret = check_target(w, sub, target);
	if (!ret)
		ret = check_kind(w, callable, sub, block_dim);
	if (ret)
		return ret;

	t = task_begin(w, callable, 1);
	if (!t)
		return -ENOMEM;
	t->sub = sub;
	t->block_dim = block_dim;
	ret = add_member(w, t, 0, a, target, flags);
	if (ret) {
		slot_put(w, t);
		return ret;
	}
	w->run.next_seq++;
	return publish(w, t);
}

SIMPLER_API int simpler_submit_group(struct simpler_orch *o, int callable,
				     struct simpler_args *const *a, int n, const int *workers)
{
	struct simpler_worker *w;
	uint64_t used = 0;
	const char *kind;
	struct task *t;
	uint32_t start;
	int i, ret, target;

	ret = check_submit(o, callable);
	if (ret)
		return ret;
	w = o->w;
	kind = pool_kind(w, &w->chips);
	ret = check_kind(w, callable, false, 1);
	if (ret)
		return ret;
	if (n < 1 || n > w->chips.n || !a)
		return werr(w, -EINVAL, "submit_group: %d members need as many distinct %ss; "
			    "the worker has %d", n, kind, w->chips.n);
	for (i = 0; i < n && workers; i++) {
		if (workers[i] < 0 || workers[i] >= w->chips.n)
			return werr(w, -EINVAL, "submit_group: member %d names %s %d, which "
				    "does not exist (0..%d)", i, kind, workers[i], w->chips.n - 1);
		if (used & (1ULL << workers[i]))
			return werr(w, -EINVAL, "submit_group: %s %d is named twice: members "
				    "need distinct %ss", kind, workers[i], kind);
		used |= 1ULL << workers[i];
	}
	t = task_begin(w, callable, (uint32_t)n);
	if (!t)
		return -ENOMEM;
	start = atomic_fetch_add_explicit(&w->chips.rr, (uint32_t)n, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		target = workers ? workers[i] : (int)((start + (uint32_t)i) % (uint32_t)w->chips.n);
		if (!workers && a[i]) {
			/* chip memory needs the chip known in advance */
			uint32_t k;

			for (k = 0; k < a[i]->nr_tensors; k++)
				if (a[i]->tensors[k].child_memory) {
					slot_put(w, t);
					return werr(w, -EINVAL, "submit_group: member %d tensor %u is "
						    "chip memory: name the members' chips (workers)",
						    i, k);
				}
		}
		ret = add_member(w, t, (uint32_t)i, a[i], target, 0);
		if (ret) {
			slot_put(w, t);
			return ret;
		}
	}
	w->run.next_seq++;
	return publish(w, t);
}

/* ---- teardown ---- */

/* free the orchestrator's pools; every executor has stopped */
void sx_orch_free_all(struct simpler_worker *w)
{
	struct frame *f, *fn;
	struct edge *e, *en;
	uint32_t i;

	sx_orch_reclaim(w);
	for (i = 0; w->tasks && i < w->ring_size; i++)
		task_recycle(w, &w->tasks[i]);
	for (f = w->frame_pool; f; f = fn) {
		fn = f->parent;
		free(f);
	}
	w->frame_pool = NULL;
	for (e = w->edge_pool; e; e = en) {
		en = e->owner_next;
		free(e);
	}
	w->edge_pool = NULL;
}

/* ---- runs ---- */

/* every task of the run finished (acquire: pairs with the finishers' seq_cst decrements) */
static bool run_drained(struct simpler_worker *w)
{
	return atomic_load_explicit(&w->run.inflight, memory_order_acquire) == 0;
}

SIMPLER_API int simpler_run(struct simpler_worker *w, simpler_orch_fn fn, void *arg)
{
	struct simpler_orch *o;
	struct failure *f;
	bool expected = false;
	int ret;

	if (!w)
		return werr(NULL, -EINVAL, "simpler_run: NULL worker");
	o = &w->orch;
	if (!fn)
		return werr(w, -EINVAL, "simpler_run: NULL orchestration function");
	/* acquire: pairs with the release store that ended the last run: its teardown is seen */
	if (!atomic_compare_exchange_strong_explicit(&w->running, &expected, true,
						     memory_order_acquire, memory_order_relaxed))
		return werr(w, -EBUSY, "simpler_run: a run is already in progress on this worker");
	w->errmsg[0] = 0;
	if (!w->mode_threads) {
		/*
		 * A chip that died is forked again; if that fails its tasks fail
		 * with the reason, the others run.
		 */
		sx_proc_respawn(w);
	}
	sx_hostmem_run_begin(w);
	w->run.next_seq = 0;
	w->run.submitted = 0;
	atomic_store_explicit(&w->run.inflight, RUN_BIAS, memory_order_relaxed);
	o->scope = NULL;
	o->depth = 0;
	o->active = true;
	o->scope = frame_new(w, NULL);
	if (!o->scope) {
		o->active = false;
		atomic_store_explicit(&w->running, false, memory_order_release);
		return werr(w, -ENOMEM, "simpler_run: out of memory");
	}
	o->depth = 1;

	ret = fn(o, arg);
	if (ret > 0)
		ret = 0;

	/* close whatever the orch fn left open, then the run's own scope */
	while (o->depth > 0)
		scope_close(o);
	o->active = false;
	/*
	 * drop the bias: inflight now counts the tasks still running (acq_rel,
	 * and the acquire loads below pair with the finishers' seq_cst
	 * decrements: every task's effects are seen once it reads 0)
	 */
	atomic_fetch_sub_explicit(&w->run.inflight, RUN_BIAS - w->run.submitted,
				  memory_order_acq_rel);
	/* process mode: the last tasks are reaped here, no thread to wake */
	if (w->drain)
		w->drain(w, run_drained);
	else if (!w->mode_threads)
		SCHED_HELP_UNTIL(w, run_drained(w), true);
	EC_WAIT_UNTIL(&w->run.done_ec, w->mode_threads ? w->spin_ns : sx_sched_spin_ns(w),
		      run_drained(w));
	/* every frame is dead once every task finished (acquire: sx_frame_put()'s release) */
	EC_WAIT_UNTIL(&w->frame_ec, w->spin_ns,
		      atomic_load_explicit(&w->frames_closed, memory_order_acquire) == 0);
	sx_orch_reclaim(w);
	if (!w->mode_threads)
		sx_hostmem_run_end(w);	/* shm: mirrors written by the run go back */

	f = atomic_exchange_explicit(&w->run.first, NULL, memory_order_acquire);	/* as run_failed() */
	if (ret < 0) {
		if (!w->errmsg[0])
			werr(w, ret, "the orchestration function returned %d (%s)", ret,
			     strerror(-ret));
	} else if (f) {
		ret = werr(w, f->err, "%s", f->msg);
	}
	sx_failure_put(f);
	/* release: the run's teardown, for the next run, destroy and host_register/unregister */
	atomic_store_explicit(&w->running, false, memory_order_release);
	return ret;
}
