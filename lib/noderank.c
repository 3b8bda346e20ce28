// SPDX-License-Identifier: MIT
/*
 * A node rank of an L4 under mpirun (ranks 1..N-1): what
 * simpler_worker_create() does there instead of returning a worker.  Before
 * MPI exists it reserves its arena (shared memory its chips inherit) and
 * creates its L3 worker (forking the chips and subs); then it initialises
 * MPI, says HELLO, and serves rank 0 until told to stop.
 *
 * Two threads.  This one serves rank 0 (frames, staged bytes, transfers,
 * heartbeats) and runs each node fn itself, as one simpler_run() of the L3
 * worker, in the order the tasks came: a chain of short node fns costs no
 * hand-off between threads.  While a node fn runs, MPI is free (a mutex
 * says who has it), and a standby thread that looks every WATCH_NS takes
 * over serving when a run lasts longer than that, so a long node fn never
 * silences the heartbeats nor holds up a transfer for long; it sleeps when
 * no node fn started for QUIET_NS.  Everything rank 0 names is an offset into the arena,
 * checked against it; a frame that breaks the protocol ends the session,
 * and so does silence from rank 0: the rank then exits at once, its chips
 * and subs with it (they follow their parent's death).
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/tensor.h"
#include "mpilink.h"
#include "remote.h"

#define RQ		32	/* tasks rank 0 may send at once (remote.c's RQ) */
#define DEFAULT_STAGE	((uint64_t)16 << 30)

#define WATCH_NS	1000000ULL	/* the standby looks this often while node fns run */
#define QUIET_NS	100000000ULL	/* and sleeps when none started for this long */

enum { NT_RECV, NT_READY };

/* a receive a task waits for: rank 0's staged bytes, or a transfer from another node */
struct nrecv {
	struct sx_mpi_req *req;		/* NULL: done (or dropped) */
	int src;
	uint64_t off, len;
};

struct ntask {
	struct wire_task t;
	struct nrecv recv[2 * SIMPLER_MAX_TENSORS];
	uint32_t nreq, pending;
	int state;
	int32_t err;
	char msg[WIRE_MSG_MAX + 1];
};

/* a send still in flight from the arena: nothing may write its range yet */
struct nsend {
	struct nsend *next;
	struct sx_mpi_req *req;
	uint64_t off, len, deadline, start;
	int dst, tag;
};

/* a send older than this is not polled for without a pause (its receiver may be gone) */
#define BULK_NS		1000000000ULL

/* a transfer that never arrived: what is there is not what rank 0 thinks */
struct nbad {
	struct nbad *next;
	uint64_t off, len;
};

struct ncall {
	const void *fn;			/* NULL: not found here (why) */
	uint32_t kind;
	char name[WIRE_NAME];
	char why[WIRE_OBJ_MAX + 200];
};

struct nserver {
	struct link link;
	struct simpler_worker *l3;
	uint8_t *base;
	uint64_t size;
	int node;
	char tag[112];
	uint32_t hb_ms, timeout_ms;
	uint64_t heard_ns, sent_ns;
	struct ncall *calls;
	uint32_t ncalls;
	uint32_t registered;		/* how many are on its L3 */
	int reg_err;			/* an L3 registration failed (ids differ) */
	char reg_why[ERRMSG_LEN];
	struct ntask *q;
	uint32_t qhead, qn;
	uint64_t polled_ns;		/* when frames were last looked for */
	/* the last results sent (ticket, err): what a task sent ahead waits for */
	uint64_t res_ticket[2 * RQ];
	int32_t res_err[2 * RQ];
	uint32_t nres;
	struct nsend *sends;
	struct nbad *bad;
	void *ping_buf;			/* kept between ping-pongs */
	uint64_t ping_cap;
	/* what a node fn sees: arena pointers, every tensor's strides */
	struct simpler_tensor ts[SIMPLER_MAX_TENSORS];
	uint64_t strides[SIMPLER_MAX_TENSORS * SIMPLER_MAX_DIMS];
	/* the copy in progress (COPY_TO: its bytes are coming, or wait for sends to settle) */
	struct sx_mpi_req *ctl_req;
	uint64_t ctl_ticket;
	bool copy_pending;		/* the receive is not posted yet */
	uint64_t copy_off, copy_len;
	/*
	 * MPI and everything above: the main thread's, but the standby's
	 * while a node fn runs (serve_step())
	 */
	pthread_mutex_t mpi;
	/* the standby */
	pthread_t standby;
	bool standby_started;
	struct ec watch_ec;		/* it sleeps here while quiet */
	_Atomic uint64_t run_t0;	/* the node fn running started then (0: none) */
	_Atomic uint64_t last_run;	/* the last node fn started then */
	_Atomic bool stop;
	bool shutdown;
};

/* the session is over (a bad frame, MPI failing): say so and leave with the chips */
static void die(struct nserver *S, const char *fmt, ...) __attribute__((format(printf, 2, 3),
									  noreturn));

static void die(struct nserver *S, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "simpler: %s: ", S->tag);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; exiting\n");
	fflush(NULL);
	_exit(1);
}

/* [off, off + len) inside the arena, or the session is over */
static uint8_t *arena_at(struct nserver *S, uint64_t off, uint64_t len, const char *what)
{
	if (off > S->size || len > S->size - off)
		die(S, "rank 0 named %s at 0x%" PRIx64 " (%" PRIu64 " bytes), outside this "
		    "rank's %" PRIu64 "-byte arena", what, off, len, S->size);
	return S->base + off;
}

static void send_frame(struct nserver *S, struct wire_frame *f)
{
	char err[256];

	if (sx_link_send(&S->link, 0, f, err, sizeof(err)))
		die(S, "cannot send to rank 0: %s", err);
	S->sent_ns = now_ns();
}

/* ---- sends out of the arena ---- */

static void sends_poll(struct nserver *S, uint64_t now)
{
	struct nsend **p = &S->sends, *s;
	char err[256];
	int done;

	while ((s = *p)) {
		done = 0;
		/* a failed send: its peer is gone (rank 0 finds out on its own) */
		if (S->link.mpi->test(s->req, &done, err, sizeof(err)))
			done = 1;
		else if (!done && now > s->deadline) {
			S->link.mpi->drop(s->req);
			done = 1;
		}
		if (done) {
			*p = s->next;
			free(s);
		} else {
			p = &s->next;
		}
	}
}

/* does a send in flight still read [off, off + len)? */
static bool sends_busy(struct nserver *S, uint64_t off, uint64_t len)
{
	struct nsend *s;

	sends_poll(S, now_ns());
	for (s = S->sends; s; s = s->next)
		if (s->off < off + len && off < s->off + s->len)
			return true;
	return false;
}

/* rank 0 hears from this rank every heartbeat, whatever it waits for */
static void keepalive(struct nserver *S, uint64_t now)
{
	char err[256];

	sx_link_flush(&S->link);
	if (ns_since(now, S->sent_ns) >= (uint64_t)S->hb_ms * 1000000 &&
	    !sx_link_send_empty(&S->link, 0, WIRE_HEARTBEAT, err, sizeof(err)))
		S->sent_ns = now;
}

/*
 * Wait (bounded by the sends' deadlines, heartbeats going) until no send
 * in flight overlaps [off, off + len) before a receive may write it.  Only
 * a broken rank 0 lets that happen (it receives a task's written bytes
 * before it reuses their range); the waits that can be long (a task
 * writing memory a transfer to a lost node still reads, a copy into it)
 * are steps of the main loop instead (tasks_step(), ctl_step()).
 */
static void sends_settle(struct nserver *S, uint64_t off, uint64_t len)
{
	struct timespec slice = { 0, 50000 };

	while (sends_busy(S, off, len)) {
		keepalive(S, now_ns());
		nanosleep(&slice, NULL);
	}
}

/* rank 0 says the reader of these sends is gone: nothing will receive them */
static void sends_cancel(struct nserver *S, int dst, int tag)
{
	struct nsend **p = &S->sends, *s;

	while ((s = *p)) {
		if (s->dst == dst && (!tag || s->tag == tag)) {
			*p = s->next;
			S->link.mpi->drop(s->req);
			free(s);
		} else {
			p = &s->next;
		}
	}
}

static void send_bytes(struct nserver *S, uint64_t off, uint64_t len, int dst, int tag)
{
	struct nsend *s = calloc(1, sizeof(*s));
	char err[256];

	if (!s)
		die(S, "out of memory");
	if (S->link.mpi->isend(arena_at(S, off, len, "a send"), len, dst, tag, &s->req, err,
			       sizeof(err)))
		die(S, "cannot send %" PRIu64 " bytes to rank %d: %s", len, dst, err);
	s->off = off;
	s->len = len;
	s->dst = dst;
	s->tag = tag;
	s->start = now_ns();
	/* bounded, for a receiver that is gone: the timeout, plus 1 s per 64 MiB */
	s->deadline = now_ns() + (uint64_t)S->timeout_ms * 1000000 + (len >> 26) * 1000000000ULL;
	s->next = S->sends;
	S->sends = s;
}

/* ---- ranges whose transfer never came ---- */

/*
 * [off, off + len) is being received anew: bad ranges it touches are
 * forgotten.  A bad range is a replica's, and rank 0 reuses a replica's
 * range only after it dropped that replica, so no reader is left for
 * what lies outside the new range.
 */
static void bad_heal(struct nserver *S, uint64_t off, uint64_t len)
{
	struct nbad **p = &S->bad, *b;

	while ((b = *p)) {
		if (b->off < off + len && off < b->off + b->len) {
			*p = b->next;
			free(b);
		} else {
			p = &b->next;
		}
	}
}

static void bad_add(struct nserver *S, uint64_t off, uint64_t len)
{
	struct nbad *b = malloc(sizeof(*b));

	if (!b)
		die(S, "out of memory");
	*b = (struct nbad){ S->bad, off, len };
	S->bad = b;
}

/*
 * Does a replica tensor of t (rank 0 marks them) read a bad range?  Its
 * index, or -1.  Only replicas: a staged or node-memory tensor in a range
 * a lost transfer once aimed at holds what rank 0 says it holds.
 */
static int bad_input(struct nserver *S, const struct wire_task *t)
{
	const struct nbad *b;
	uint64_t off, len;
	uint32_t i;

	for (i = 0; S->bad && i < t->nr_tensors; i++) {
		if (!(t->io[i] & WIRE_IO_REPLICA))
			continue;
		off = t->tensors[i].addr;
		len = sx_wire_span(t, i);
		for (b = S->bad; b; b = b->next)
			if (b->off < off + len && off < b->off + b->len)
				return (int)i;
	}
	return -1;
}

/*
 * Transfer r of queued task nt will not come (its source is lost): the
 * task fails, and later tasks rank 0 told to read that copy must not.
 */
static void recv_lost(struct nserver *S, struct ntask *nt, struct nrecv *r, const char *why)
{
	bad_add(S, r->off, r->len);
	nt->pending--;
	if (nt->err)
		return;
	nt->err = -EHOSTDOWN;
	snprintf(nt->msg, sizeof(nt->msg), "%s: node fn task #%" PRIu64 ": its input from rank "
		 "%d cannot come: %s", S->tag, nt->t.task_seq, r->src, why);
}

/* rank src is lost: no transfer from it will come */
static void recvs_cancel(struct nserver *S, int src)
{
	struct nrecv *r;
	uint32_t k, i;

	for (k = 0; k < S->qn; k++) {
		struct ntask *nt = &S->q[(S->qhead + k) % RQ];

		for (i = 0; nt->state == NT_RECV && i < nt->nreq; i++) {
			r = &nt->recv[i];
			if (!r->req || r->src != src)
				continue;
			S->link.mpi->drop(r->req);
			r->req = NULL;
			recv_lost(S, nt, r, "rank 0 found that node lost");
		}
	}
}

/* ---- callables ---- */

/* a kernel whose code is not in this rank's program: it fails, ids stay aligned */
static int missing_kernel(const struct simpler_kernel_args *a)
{
	simpler_kernel_errmsg(a, "this kernel's code was not found on this node rank");
	return -ENOEXEC;
}

static int program_base(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(uintptr_t *)arg = info->dlpi_addr;
	return 1;	/* the first object is the program */
}

/* callable c as rank 0 described it, found in this process */
static void callable_add(struct nserver *S, const struct wire_callable *c)
{
	struct ncall *n;
	struct link_map *lm = NULL;
	uintptr_t base = 0;
	void *h;

	uint32_t have = S->ncalls;

	if (c->id != have || c->id >= MAX_CALLABLES)
		die(S, "rank 0 sent callable %u where %u was due", c->id, have);
	n = &S->calls[have];
	n->kind = c->kind;
	snprintf(n->name, sizeof(n->name), "%s", c->name);
	if (!c->obj[0]) {
		dl_iterate_phdr(program_base, &base);
		n->fn = (const void *)(base + c->offset);
	} else if (!(h = dlopen(c->obj, RTLD_NOW)) || dlinfo(h, RTLD_DI_LINKMAP, &lm) || !lm) {
		snprintf(n->why, sizeof(n->why), "cannot load %s here: %s", c->obj, dlerror());
	} else {
		n->fn = (const void *)(lm->l_addr + c->offset);
	}
	S->ncalls = have + 1;
}

/* callables rank 0 registered since, onto the L3 in the same order */
static void callables_sync(struct nserver *S)
{
	uint32_t have = S->ncalls;
	int ret;

	for (; !S->reg_err && S->registered < have; S->registered++) {
		const struct ncall *n = &S->calls[S->registered];
		const void *fn = n->fn ? n->fn : (const void *)(uintptr_t)missing_kernel;

		ret = sx_register(S->l3, n->name, fn, n->kind);
		if (ret < 0) {
			/* its id and every later one would differ from rank 0's: none runs */
			S->reg_err = ret;
			snprintf(S->reg_why, sizeof(S->reg_why), "registering '%s' on this node's "
				 "L3 failed: %s", n->name, simpler_worker_errmsg(S->l3));
		}
	}
}

/* ---- running a node fn ---- */

struct node_call {
	simpler_node_fn fn;
	const struct simpler_kernel_args *args;
};

static int node_orch(struct simpler_orch *o, void *arg)
{
	const struct node_call *c = arg;

	return c->fn(o, c->args);
}

static void run(struct nserver *S, struct ntask *nt)
{
	struct simpler_tensor *ts = S->ts;
	uint64_t *strides = S->strides;
	const struct wire_task *t = &nt->t;
	struct simpler_kernel_args a;
	struct node_call c;
	const struct ncall *n;
	uint64_t t0;
	uint32_t i;
	int ret;

	callables_sync(S);
	nt->msg[0] = 0;
	if (S->reg_err) {
		nt->err = S->reg_err;
		snprintf(nt->msg, sizeof(nt->msg), "%s: %.900s", S->tag, S->reg_why);
		return;
	}
	if (t->callable >= S->registered || S->calls[t->callable].kind != CALLABLE_NODE_FN) {
		nt->err = -EINVAL;
		snprintf(nt->msg, sizeof(nt->msg), "%s: callable %u is not a node fn here", S->tag,
			 t->callable);
		return;
	}
	n = &S->calls[t->callable];
	if (!n->fn) {
		nt->err = -ENOEXEC;
		snprintf(nt->msg, sizeof(nt->msg), "%s: cannot find node fn '%s' here: %s", S->tag,
			 n->name, n->why);
		return;
	}
	for (i = 0; i < t->nr_tensors; i++) {
		const uint64_t *st = t->has_views ? sx_strides_at(
			(const uint64_t (*)[SIMPLER_MAX_DIMS])t->strides, i) : NULL;

		ts[i] = t->tensors[i];
		ts[i].addr = (uint64_t)(uintptr_t)(S->base + t->tensors[i].addr);
		if (st)
			memcpy(&strides[i * SIMPLER_MAX_DIMS], st, SIMPLER_MAX_DIMS * sizeof(*st));
		else
			sx_rowmajor_strides(&ts[i], &strides[i * SIMPLER_MAX_DIMS]);
	}
	memset(&a, 0, sizeof(a));
	a.nr_tensors = t->nr_tensors;
	a.nr_scalars = t->nr_scalars;
	a.tensors = ts;
	a.scalars = t->scalars;
	a.strides = strides;
	a.block_dim = 1;
	a.chip = S->node;
	c.fn = (simpler_node_fn)(uintptr_t)n->fn;
	c.args = &a;
	/*
	 * MPI is free while it runs: the standby serves if it lasts.  Every
	 * start looks for a sleeping standby (seq_cst: the store, then
	 * ec_notify()'s look for a sleeper; the standby's ec_prepare() comes
	 * before its look at last_run): one that judged the rank quiet just
	 * before this store would otherwise sleep through a long node fn.
	 */
	t0 = now_ns();
	atomic_store_explicit(&S->last_run, t0, memory_order_seq_cst);
	ec_notify(&S->watch_ec);
	atomic_store_explicit(&S->run_t0, t0, memory_order_release);
	pthread_mutex_unlock(&S->mpi);
	ret = simpler_run(S->l3, node_orch, &c);
	/* release: the standby stops serving for this run, and lets go */
	atomic_store_explicit(&S->run_t0, 0, memory_order_release);
	pthread_mutex_lock(&S->mpi);
	nt->err = ret;
	if (ret)
		snprintf(nt->msg, sizeof(nt->msg), "%s: node fn '%s' (task #%" PRIu64 "): %s",
			 S->tag, n->name, t->task_seq, simpler_worker_errmsg(S->l3));
}

/* ---- frames from rank 0 ---- */

static void task_in(struct nserver *S, const struct wire_task *t)
{
	struct ntask *nt;
	uint32_t i;
	char err[256];

	if (S->qn == RQ)
		die(S, "rank 0 sent more than %d tasks at once", RQ);
	nt = &S->q[(S->qhead + S->qn++) % RQ];
	sx_wire_task_copy(&nt->t, t);
	nt->nreq = nt->pending = 0;
	nt->err = 0;
	nt->msg[0] = 0;
	nt->state = NT_RECV;
	/*
	 * The receives, in the order rank 0 sends (staged bytes, then
	 * transfers).  None times out: rank 0 says when a source is lost
	 * (WIRE_CTRL_CANCEL), and its own bytes come unless it is gone.
	 */
	for (i = 0; i < t->nr_tensors; i++) {
		uint64_t span = sx_wire_span(t, i);
		uint8_t *p = arena_at(S, t->tensors[i].addr, span, "a tensor");

		if (!(t->io[i] & WIRE_IO_IN))
			continue;
		sends_settle(S, t->tensors[i].addr, span);
		bad_heal(S, t->tensors[i].addr, span);
		if (S->link.mpi->irecv(p, span, 0, LINK_TAG_DATA, &nt->recv[nt->nreq].req, err,
				       sizeof(err)))
			die(S, "cannot receive a staged tensor: %s", err);
		nt->recv[nt->nreq].src = 0;
		nt->recv[nt->nreq].off = t->tensors[i].addr;
		nt->recv[nt->nreq++].len = span;
	}
	for (i = 0; i < t->nr_recvs; i++) {
		const struct wire_recv *r = &t->recvs[i];
		uint8_t *p = arena_at(S, r->off, r->len, "a transfer");

		if ((int)r->src == S->link.rank || (int)r->src >= S->link.size || !r->src)
			die(S, "rank 0 ordered a transfer from rank %u", r->src);
		sends_settle(S, r->off, r->len);
		bad_heal(S, r->off, r->len);
		if (S->link.mpi->irecv(p, r->len, (int)r->src, (int)r->tag, &nt->recv[nt->nreq].req,
				       err, sizeof(err)))
			die(S, "cannot receive a transfer: %s", err);
		nt->recv[nt->nreq].src = (int)r->src;
		nt->recv[nt->nreq].off = r->off;
		nt->recv[nt->nreq++].len = r->len;
	}
	nt->pending = nt->nreq;
}

/* the ping buffer, of at least len bytes (kept: a fresh one's page faults are not MPI's) */
static uint8_t *ping_buf(struct nserver *S, uint64_t len)
{
	if (len > S->ping_cap || !S->ping_buf) {
		free(S->ping_buf);
		S->ping_buf = malloc(len ? len : 1);
		if (!S->ping_buf)
			die(S, "out of memory for a %" PRIu64 "-byte ping", len);
		memset(S->ping_buf, 0x5a, len);
		S->ping_cap = len;
	}
	return S->ping_buf;
}

/*
 * Between a ping's looks (sx_link_wait_with()), heartbeats to rank 0 going
 * on: a floor is measured, so the best of two ways, measured here:
 * spinning (8 bytes come within it: yielding made the round trip over
 * shared memory 15% slower), then yielding between looks (16 MiB over TCP
 * moved 10% faster than when spinning throughout, the kernel's share of
 * the copy getting the CPU).
 */
static void ping_pause(void *arg, uint64_t now, int looks, uint32_t mark)
{
	struct nserver *S = arg;

	keepalive(S, now);
	/* the crowd detector looks here too: a ping-pong of many rounds keeps this rank here */
	sx_link_crowd_tick(&S->link, now);
	if (looks < 1000)
		cpu_relax();
	else
		sx_link_relax(&S->link, mark);
}

/*
 * 2 x reps messages of len bytes with rank peer, in turns: MPI alone, a
 * floor.  The first end sends on even steps, the other on odd ones.
 */
static int ping_run(struct nserver *S, int peer, uint64_t reps, uint64_t len, bool first,
		    char *err, size_t elen)
{
	uint8_t *buf = ping_buf(S, len);
	struct sx_mpi_req *r;
	uint64_t i;
	int ret = 0;

	for (i = 0; i < 2 * reps && !ret; i++) {
		if ((i % 2 == 0) == first)
			ret = sx_link_isend(&S->link, buf, len, peer, LINK_TAG_PING, &r, err, elen);
		else
			ret = S->link.mpi->irecv(buf, len, peer, LINK_TAG_PING, &r, err, elen);
		if (!ret)
			ret = sx_link_wait_with(&S->link, r, S->timeout_ms, ping_pause, S, err,
						elen);
	}
	S->heard_ns = now_ns();
	return ret;
}

/*
 * MPI alone between this rank and another node rank (the floor of a
 * transfer between them): PEER_PING sends first and times the round trips
 * (its reply carries the ns, or the error), PEER_ECHO answers them.  A
 * failure (the other rank gone, the timeout) ends the ping, not the
 * session: rank 0 hears of it in the reply, and of a lost rank on its own.
 */
static void peer_ping(struct nserver *S, const struct wire_ctrl *c)
{
	bool first = c->op == WIRE_CTRL_PEER_PING;
	uint64_t reps = c->off & 0xffffffff, peer = c->off >> 32, t0;
	struct wire_frame *f = S->link.tx;
	char err[256] = "";
	int ret;

	/* the codec refused rank 0 as the peer */
	if (peer >= (uint64_t)S->link.size || peer == (uint64_t)S->link.rank)
		die(S, "rank 0 ordered a ping with rank %" PRIu64, peer);
	t0 = now_ns();
	ret = ping_run(S, (int)peer, reps, c->len, first, err, sizeof(err));
	if (!first)
		return;
	f->h.type = WIRE_CTRL_REPLY;
	f->u.reply = (struct wire_ctrl_reply){ c->ticket, c->op, ret, ret ? 0 : now_ns() - t0,
					       "" };
	if (ret)
		snprintf(f->u.reply.msg, sizeof(f->u.reply.msg), "%s: a ping with rank %" PRIu64
			 " failed: %s", S->tag, peer, err);
	send_frame(S, f);
}

static void ctl_in(struct nserver *S, const struct wire_ctrl *c)
{
	struct wire_frame *f = S->link.tx;
	char err[256];
	uint64_t a, b;

	switch (c->op) {
	case WIRE_CTRL_COPY_TO:
		if (S->ctl_req || S->copy_pending)
			die(S, "rank 0 started a copy while one was in progress");
		arena_at(S, c->off, c->len, "a copy");
		/* posted by ctl_step() once no send reads the range */
		S->copy_pending = true;
		S->copy_off = c->off;
		S->copy_len = c->len;
		S->ctl_ticket = c->ticket;
		return;
	case WIRE_CTRL_COPY_FROM:
		arena_at(S, c->off, c->len, "a copy");
		f->h.type = WIRE_CTRL_REPLY;
		f->u.reply = (struct wire_ctrl_reply){ c->ticket, c->op, 0, 0, "" };
		send_frame(S, f);
		send_bytes(S, c->off, c->len, 0, LINK_TAG_DATA);
		return;
	case WIRE_CTRL_DISCARD:
		arena_at(S, c->off, c->len, "a free");
		a = (c->off + 4095) & ~4095ULL;
		b = (c->off + c->len) & ~4095ULL;
		if (b > a)
			madvise(S->base + a, b - a, MADV_REMOVE);
		return;
	case WIRE_CTRL_PINGPONG:
		/* c->off round trips of c->len bytes with rank 0, which sends first */
		if (ping_run(S, 0, c->off, c->len, false, err, sizeof(err)))
			die(S, "a ping-pong with rank 0 failed: %s", err);
		return;
	case WIRE_CTRL_PEER_PING:
	case WIRE_CTRL_PEER_ECHO:
		peer_ping(S, c);
		return;
	case WIRE_CTRL_CANCEL:
		if (c->off >= (uint64_t)S->link.size || c->len > INT32_MAX)
			die(S, "rank 0 cancelled sends to rank %" PRIu64 " on tag %" PRIu64,
			    c->off, c->len);
		sends_cancel(S, (int)c->off, (int)c->len);
		if (!c->len && c->off) {
			recvs_cancel(S, (int)c->off);
			S->link.peer_lost = true;
		}
		return;
	default:
		die(S, "rank 0 sent control command %u", c->op);
	}
}

static bool frames_in(struct nserver *S)
{
	const struct wire_frame *f;
	char err[512], tn[16];
	bool moved = false;
	int from, ret;

	while ((ret = sx_link_recv(&S->link, 0, &from, S->timeout_ms, err, sizeof(err))) != 0) {
		if (ret < 0)
			die(S, "the session with rank 0 ended on a bad frame: %s", err);
		f = S->link.rx;
		S->heard_ns = now_ns();
		moved = true;
		switch (f->h.type) {
		case WIRE_HEARTBEAT:
			break;
		case WIRE_TASK:
			task_in(S, &f->u.task);
			break;
		case WIRE_CALLABLE:
			callable_add(S, &f->u.callable);
			break;
		case WIRE_CTRL:
			ctl_in(S, &f->u.ctrl);
			break;
		case WIRE_SEND:
			/* the codec checked the tag and that dst is not rank 0 */
			if ((int)f->u.send.dst == S->link.rank ||
			    f->u.send.dst >= (uint32_t)S->link.size)
				die(S, "rank 0 ordered a transfer to rank %u (of %d; this is %d)",
				    f->u.send.dst, S->link.size, S->link.rank);
			send_bytes(S, f->u.send.off, f->u.send.len, (int)f->u.send.dst,
				   (int)f->u.send.tag);
			break;
		case WIRE_SHUTDOWN:
			S->shutdown = true;
			return true;
		default:
			die(S, "rank 0 sent a %s frame, which it never sends now",
			    sx_wire_type_name(f->h.type, tn, sizeof(tn)));
		}
	}
	return moved;
}

/* ---- the main loop ---- */

/*
 * The tasks nt waits for (rank 0 sent it ahead of their results) ran here
 * before it: fail it unless each succeeded.  A ticket not among the last
 * results is a broken rank 0.
 */
static void after_check(struct nserver *S, struct ntask *nt)
{
	uint32_t i, k;

	for (i = 0; i < nt->t.nr_after && !nt->err; i++) {
		for (k = 0; k < S->nres && k < 2 * RQ; k++)
			if (S->res_ticket[(S->nres - 1 - k) % (2 * RQ)] == nt->t.after[i])
				break;
		if (k == S->nres || k == 2 * RQ)
			die(S, "rank 0 ordered task %" PRIu64 " after task %" PRIu64 ", which did "
			    "not run here lately", nt->t.ticket, nt->t.after[i]);
		if (S->res_err[(S->nres - 1 - k) % (2 * RQ)]) {
			nt->err = -ECANCELED;
			snprintf(nt->msg, sizeof(nt->msg), "%s: node fn task #%" PRIu64 " did not "
				 "run: a task it depends on failed", S->tag, nt->t.task_seq);
		}
	}
}

/* the oldest task: its bytes in?  Then run it; its result back to rank 0 */
static bool tasks_step(struct nserver *S)
{
	struct ntask *nt = &S->q[S->qhead];
	struct wire_frame *f = S->link.tx;
	char err[256];
	uint32_t i, nout = 0;
	int done, ret;

	if (!S->qn)
		return false;
	if (nt->state == NT_RECV) {
		for (i = 0; i < nt->nreq; i++) {
			struct nrecv *r = &nt->recv[i];

			if (!r->req)
				continue;
			done = 0;
			ret = S->link.mpi->test(r->req, &done, err, sizeof(err));
			if (ret && !r->src)
				die(S, "receiving a task's bytes from rank 0 failed: %s", err);
			if (ret) {
				/* rank 0 finds the source lost, or broken, on its own */
				r->req = NULL;
				recv_lost(S, nt, r, err);
				continue;
			}
			if (done) {
				r->req = NULL;
				nt->pending--;
			}
		}
		if (nt->pending)
			return false;
		nt->state = NT_READY;
		after_check(S, nt);
	}
	if (!nt->err && (i = (uint32_t)bad_input(S, &nt->t)) != UINT32_MAX) {
		nt->err = -EHOSTDOWN;
		snprintf(nt->msg, sizeof(nt->msg), "%s: node fn task #%" PRIu64 ": tensor %u is a "
			 "copy of another node's memory that never arrived (its source was lost?)",
			 S->tag, nt->t.task_seq, i);
	}
	/* what it may write, no send may still read (one to a lost node waits for its cancel) */
	for (i = 0; !nt->err && i < nt->t.nr_tensors; i++)
		if (nt->t.acc[i] != SIMPLER_IN &&
		    sends_busy(S, nt->t.tensors[i].addr, sx_wire_span(&nt->t, i)))
			return false;
	/* a task failed before it ran is reported as if it had */
	if (!nt->err)
		run(S, nt);
	for (i = 0; !nt->err && i < nt->t.nr_tensors; i++)
		nout += !!(nt->t.io[i] & WIRE_IO_OUT);
	f->h.type = WIRE_DONE;
	f->u.done.ticket = nt->t.ticket;
	f->u.done.err = nt->err;
	f->u.done.nr_out = nout;
	snprintf(f->u.done.msg, sizeof(f->u.done.msg), "%s", nt->msg);
	send_frame(S, f);
	S->res_ticket[S->nres % (2 * RQ)] = nt->t.ticket;
	S->res_err[S->nres++ % (2 * RQ)] = nt->err;
	for (i = 0; nout && i < nt->t.nr_tensors; i++)
		if (nt->t.io[i] & WIRE_IO_OUT)
			send_bytes(S, nt->t.tensors[i].addr, sx_wire_span(&nt->t, i), 0,
				   LINK_TAG_DATA);
	S->qhead = (S->qhead + 1) % RQ;
	S->qn--;
	return true;
}

static bool ctl_step(struct nserver *S)
{
	struct wire_frame *f = S->link.tx;
	char err[256];
	int done = 0;

	if (S->copy_pending) {
		if (sends_busy(S, S->copy_off, S->copy_len))
			return false;
		S->copy_pending = false;
		bad_heal(S, S->copy_off, S->copy_len);
		if (S->link.mpi->irecv(S->base + S->copy_off, S->copy_len, 0, LINK_TAG_COPY,
				       &S->ctl_req, err, sizeof(err)))
			die(S, "cannot receive a copy: %s", err);
	}
	if (!S->ctl_req)
		return false;
	if (S->link.mpi->test(S->ctl_req, &done, err, sizeof(err)))
		die(S, "receiving a copy failed: %s", err);
	if (!done)
		return false;
	S->ctl_req = NULL;
	f->h.type = WIRE_CTRL_REPLY;
	f->u.reply = (struct wire_ctrl_reply){ S->ctl_ticket, WIRE_CTRL_COPY_TO, 0, 0, "" };
	send_frame(S, f);
	return true;
}

/* can the oldest task run now (its bytes in)? */
static bool head_ready(const struct nserver *S)
{
	const struct ntask *nt = &S->q[S->qhead];

	return S->qn && (nt->state == NT_READY || !nt->pending);
}

/*
 * One look at everything but the tasks (the standby's, while a node fn
 * runs), or everything (the main thread's).  True if anything moved;
 * *bulk: bytes are in flight.  Exits with the chips when rank 0 has been
 * silent for the timeout.
 */
static bool serve_step(struct nserver *S, bool tasks, bool *bulk)
{
	const struct nsend *s;
	bool moved = false;
	uint64_t now = now_ns();

	/*
	 * A task that can run runs before MPI is asked for frames again, for
	 * up to WATCH_NS: a look that finds none yields the CPU (Open MPI does
	 * when the host is oversubscribed), and beside a busy process a yield
	 * can cost its whole time slice, a millisecond or more a task of a
	 * chain sent ahead.
	 */
	if (!tasks || S->shutdown || ns_since(now, S->polled_ns) >= WATCH_NS ||
	    !head_ready(S) || !(moved = tasks_step(S))) {
		S->polled_ns = now;
		moved |= frames_in(S);
		if (tasks && !S->shutdown)
			moved |= tasks_step(S);
	}
	moved |= ctl_step(S);
	now = now_ns();
	sends_poll(S, now);
	keepalive(S, now);
	/*
	 * Bulk bytes in flight need this rank's MPI progress at each step of
	 * their protocol (a rendezvous, its acknowledgement): a nap of up to
	 * 1 ms between steps cost a 16 MiB transfer over shared memory two
	 * thirds of its bandwidth, and over TCP, whose bytes move only inside
	 * MPI calls, a yield between steps a third of it.  The callers poll
	 * without a pause until they are done, as MPI's own blocking calls do.
	 */
	*bulk = S->ctl_req || (S->qn && S->q[S->qhead].state == NT_RECV &&
			       S->q[S->qhead].pending);
	for (s = S->sends; s && !*bulk; s = s->next)
		*bulk = now - s->start < BULK_NS;
	moved |= *bulk || S->sends;
	if (ns_since(now, S->heard_ns) > (uint64_t)S->timeout_ms * 1000000) {
		fprintf(stderr, "simpler: %s: rank 0 stopped responding (nothing for %u ms): "
			"exiting, with this rank's chips and subs\n", S->tag, S->timeout_ms);
		fflush(NULL);
		_exit(3);
	}
	return moved;
}

static void serve(struct nserver *S)
{
	struct link_pace pace = { .link = &S->link };
	bool moved, bulk;

	S->heard_ns = S->sent_ns = now_ns();
	pthread_mutex_lock(&S->mpi);
	while (!S->shutdown) {
		pace.mark = sx_link_mark(&S->link);
		moved = serve_step(S, true, &bulk);
		if (!bulk)
			sx_link_pace(&pace, moved, now_ns());
		else	/* no pause while bytes move, but the crowd detector looks */
			sx_link_crowd_tick(&S->link, now_ns());
	}
	pthread_mutex_unlock(&S->mpi);
}

/*
 * The standby: while node fns run it looks every WATCH_NS; one running
 * longer than that, it serves for (MPI is free then), until it ends.
 * Quiet (none started for QUIET_NS), it sleeps until one does.
 */
static void *standby_main(void *arg)
{
	struct nserver *S = arg;
	struct timespec watch = { 0, WATCH_NS };
	struct link_pace pace = { .link = &S->link };
	uint64_t t0, now, last;
	bool moved, bulk = false;
	uint32_t key;

	pthread_setname_np(pthread_self(), "simpler-node");
	/* acquire: pairs with the release store in server_free() */
	while (!atomic_load_explicit(&S->stop, memory_order_acquire)) {
		/* acquire: pairs with run()'s release stores */
		t0 = atomic_load_explicit(&S->run_t0, memory_order_acquire);
		now = now_ns();
		if (t0 && now - t0 >= WATCH_NS) {
			moved = bulk = false;
			pace.mark = sx_link_mark(&S->link);
			if (!pthread_mutex_trylock(&S->mpi)) {
				if (atomic_load_explicit(&S->run_t0, memory_order_acquire) == t0)
					moved = serve_step(S, false, &bulk);
				pthread_mutex_unlock(&S->mpi);
			}
			if (!bulk)
				sx_link_pace(&pace, moved, now);
			continue;
		}
		/* a run that started since now was taken is no quiet: ns_since() gives 0 */
		last = atomic_load_explicit(&S->last_run, memory_order_relaxed);
		if (ns_since(now, last) < QUIET_NS || t0) {
			nanosleep(&watch, NULL);
			continue;
		}
		key = ec_prepare(&S->watch_ec);
		/* seq_cst: after the announcement (pairs with run()'s store, then notify) */
		if (atomic_load_explicit(&S->last_run, memory_order_seq_cst) != last ||
		    atomic_load_explicit(&S->stop, memory_order_seq_cst))
			ec_cancel(&S->watch_ec);
		else
			ec_sleep(&S->watch_ec, key);
	}
	return NULL;
}

/* ---- start and stop ---- */

static void server_free(struct nserver *S)
{
	struct nsend *s, *next;
	struct nbad *b, *bn;

	for (b = S->bad; b; b = bn) {
		bn = b->next;
		free(b);
	}
	if (S->standby_started) {
		/* release: pairs with the standby's acquire load */
		atomic_store_explicit(&S->stop, true, memory_order_seq_cst);
		ec_notify(&S->watch_ec);
		pthread_join(S->standby, NULL);
	}
	sx_worker_destroy(S->l3);
	for (s = S->sends; s; s = next) {
		next = s->next;
		if (S->link.open)
			S->link.mpi->drop(s->req);
		free(s);
	}
	if (S->ctl_req)
		S->link.mpi->drop(S->ctl_req);
	sx_link_close(&S->link);
	if (S->base)
		munmap(S->base, S->size);
	free(S->calls);
	free(S->q);
	free(S->ping_buf);
	free(S);
}

/* the L3 options every node rank uses: checked as a local node's */
static int l3_opts(const struct simpler_worker_opts *o, struct simpler_worker_opts *d)
{
	const struct simpler_worker_opts *src = OPTS_GET(o, remote_opts, NULL);
	int ret;

	memset(d, 0, sizeof(*d));
	d->sz = sizeof(*d);
	if (!src)
		return 0;
	ret = sx_opts_in(src, sizeof(*src), "simpler_worker_create: remote_opts",
			 "simpler_worker_opts", NULL);
	if (ret)
		return ret;
	memcpy(d, src, src->sz < sizeof(*d) ? src->sz : sizeof(*d));
	d->sz = sizeof(*d);
	if ((d->level && d->level != 3) || d->nr_nodes || d->node_opts ||
	    (d->flags & SIMPLER_WORKER_MPI))
		return werr(NULL, -EINVAL, "simpler_worker_create: remote_opts: a node is an L3 "
			    "worker: level 0 or 3, without nodes of its own or SIMPLER_WORKER_MPI");
	return 0;
}

int sx_noderank_serve(const struct simpler_worker_opts *o, const struct sx_mpi_ops *ops,
		      int rank, int size)
{
	struct nserver *S = calloc(1, sizeof(*S));
	struct simpler_worker_opts l3o;
	struct wire_frame *f;
	struct wire_hello *h;
	char err[ERRMSG_LEN], host[64];
	uint64_t deadline;
	int ret, l3ret, from;

	if (!S)
		return werr(NULL, -ENOMEM, "simpler_worker_create: out of memory");
	S->link.mpi = ops;
	S->timeout_ms = OPTS_OR(o, node_timeout_ms, LINK_DEFAULT_TIMEOUT_MS);
	S->size = OPTS_OR(o, stage_size, DEFAULT_STAGE);
	ec_init(&S->watch_ec, false);
	pthread_mutex_init(&S->mpi, NULL);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = 0;
	snprintf(S->tag, sizeof(S->tag), "node rank %d (pid %d on %s)", rank, getpid(), host);
	S->calls = calloc(MAX_CALLABLES, sizeof(*S->calls));
	S->q = calloc(RQ, sizeof(*S->q));
	/* the arena first: the L3's chips and subs inherit it, so node fns may pass it on */
	S->base = mmap(NULL, S->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (S->base == MAP_FAILED)
		S->base = NULL;
	/*
	 * Huge pages where the host allows them for shared memory
	 * (transparent_hugepage/shmem_enabled "advise"; Debian's default,
	 * "never", ignores this): MPI copies a transfer page by page, and 16
	 * MiB over shared memory then moved in less time.
	 */
	if (S->base)
		madvise(S->base, S->size, MADV_HUGEPAGE);
	/*
	 * Then the L3 worker (it forks).  A failure here, or of the arena, is
	 * reported to rank 0 in the HELLO, which fails everyone: MPI starts
	 * anyway, or rank 0 would wait in MPI_Init for this rank forever.
	 */
	if (!S->calls || !S->q || !S->base) {
		l3ret = -ENOMEM;
		snprintf(err, sizeof(err), "cannot reserve its arena (stage_size %" PRIu64 " bytes: "
			 "lower it, or raise this host's memory limits) or its tables", S->size);
	} else {
		l3ret = l3_opts(o, &l3o);
		if (!l3ret)
			l3ret = sx_worker_create(&l3o, NULL, NULL, &S->l3);
		snprintf(err, sizeof(err), "%s%s", l3ret ? "cannot start its L3 worker: " : "",
			 l3ret ? simpler_last_errmsg() : "");
	}
	ret = sx_link_open(&S->link, rank, size, err + strlen(err), sizeof(err) - strlen(err));
	if (ret) {
		server_free(S);
		return werr(NULL, ret, "simpler_worker_create: node rank %d: cannot start MPI: %s",
			    rank, err);
	}
	f = S->link.tx;
	memset(f, 0, sizeof(*f));
	f->h.type = WIRE_HELLO;
	h = &f->u.hello;
	h->lib_version = SIMPLER_VERSION;
	h->err = l3ret;
	h->pid = (uint32_t)getpid();
	h->nr_chips = S->l3 ? (uint32_t)simpler_worker_nr_chips(S->l3) : 0;
	h->nr_subs = S->l3 ? (uint32_t)simpler_worker_nr_subs(S->l3) : 0;
	h->arena = S->size;
	h->build_id_len = sx_link_build_id(h->build_id, sizeof(h->build_id));
	snprintf(h->host, sizeof(h->host), "%s", S->link.host);
	snprintf(h->msg, sizeof(h->msg), "%s", err);
	send_frame(S, f);
	/* the verdict: every rank goes on, or every rank fails create */
	deadline = now_ns() + (uint64_t)(OPTS_OR(o, start_timeout_ms, 10000) + S->timeout_ms) *
		   1000000;
	while (!(ret = sx_link_recv(&S->link, 0, &from, S->timeout_ms, err, sizeof(err)))) {
		if (now_ns() > deadline) {
			ret = -ETIMEDOUT;
			snprintf(err, sizeof(err), "rank 0 said nothing within %u ms",
				 OPTS_OR(o, start_timeout_ms, 10000) + S->timeout_ms);
			break;
		}
		sx_link_flush(&S->link);
		usleep(1000);
	}
	if (ret > 0 && S->link.rx->h.type != WIRE_VERDICT) {
		ret = -EPROTO;
		snprintf(err, sizeof(err), "rank 0 sent a frame of type %u before its verdict",
			 S->link.rx->h.type);
	}
	if (ret > 0 && S->link.rx->u.verdict.err) {
		ret = S->link.rx->u.verdict.err;
		snprintf(err, sizeof(err), "rank 0 refused the job: %.900s",
			 S->link.rx->u.verdict.msg);
	}
	if (ret < 0) {
		server_free(S);
		return werr(NULL, ret, "simpler_worker_create: node rank %d: %s", rank, err);
	}
	S->node = (int)S->link.rx->u.verdict.node;
	S->hb_ms = S->link.rx->u.verdict.heartbeat_ms;
	S->timeout_ms = S->link.rx->u.verdict.timeout_ms;
	snprintf(S->tag, sizeof(S->tag), "node %d (rank %d on %s, pid %d)", S->node, rank,
		 S->link.host, getpid());
	ret = -pthread_create(&S->standby, NULL, standby_main, S);
	if (ret) {
		server_free(S);
		return werr(NULL, ret, "simpler_worker_create: node rank %d: cannot start a thread",
			    rank);
	}
	S->standby_started = true;
	serve(S);
	server_free(S);
	return 1;
}
