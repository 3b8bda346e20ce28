// SPDX-License-Identifier: MIT
/*
 * Rank 0's engine for an L4's remote nodes (ranks 1..N-1 of an mpirun
 * job).  A remote node is a slot of the L4's node pool like any local
 * node, with a mailbox the dispatcher posts to and reaps from as it does
 * for a process; here the engine (the only code that calls MPI after
 * create, one turn at a time: its thread's, or the orchestrator's while it
 * waits for its run's end, sx_remote_drive()) stands in for those
 * processes: it takes frames from their rings and the pool's shared ring,
 * turns each into a TASK frame for the node's rank, and publishes the
 * node's DONE in the mailbox as a child would.  The
 * scheduler, the TensorMap and failure poisoning therefore need nothing
 * new; what is new lives here:
 *
 * - no pointer is sent as if it meant something: an L4 host tensor is
 *   staged into the node's arena (its bytes go with the task when the task
 *   may read them, and come back before the task counts as done when it
 *   may write them); node memory is an arena range of its node, named by
 *   node_mem_addr(); the engine allocates every arena range itself;
 * - a task that reads another node's memory gets it by a transfer between
 *   the two ranks (the source node sends, the task's node receives before
 *   it runs), cached on the reader's node until a task, a copy or a free
 *   writes that range (plain ranges only: a view's span holds bytes it does
 *   not order);
 * - heartbeats both ways; a node silent for the timeout, or that breaks
 *   the protocol, is lost: its tasks fail, its slot stays dead.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/extalloc.h"
#include "base/tensor.h"
#include "lanes.h"
#include "mpilink.h"
#include "remote.h"
#include "scheduler.h"

#define RQ		32	/* tasks in flight per node: its ring, and pool work */
#define POOL_DEPTH	2	/* pool work a node holds: one running, one waiting */
#define ARENA_ALIGN	256
#define MEM_BASE	4096	/* node memory never starts at offset 0 */
#define CALM_MAX_NS	5000000ULL	/* the engine naps through at most this of a transfer */

_Static_assert(MB_AFTER == WIRE_AFTER_MAX, "a frame's waits must fit a TASK's");

struct replica {
	struct replica *next;
	int src, dst;			/* nodes */
	uint64_t off, len;		/* the range of src's arena it copies */
	uint64_t roff;			/* where the copy is in dst's arena */
	uint32_t refs;			/* tasks in flight that read it */
	bool valid;			/* may serve a later reader */
	bool cacheable;			/* a plain range: valid once its transfer is ordered */
};

/* a tensor whose bytes come back after the task */
struct rout {
	uint64_t host, span;
	struct sx_layout lay;
	bool view;			/* only the runs it covers go back (via bounce) */
	void *bounce;
	struct sx_mpi_req *req;
};

struct rtask {
	struct mb_task *f;		/* the frame it serves */
	int pr;				/* its frame in the pool's shared ring; -1: own ring */
	uint64_t ticket;
	bool local;			/* failed here, never sent */
	bool replied;			/* its DONE arrived */
	int32_t err;
	uint64_t bytes;
	uint32_t nin, nout, next, nrep;
	struct sx_mpi_req *in[SIMPLER_MAX_TENSORS];
	struct rout out[SIMPLER_MAX_TENSORS];
	uint64_t ext[SIMPLER_MAX_TENSORS];	/* stage extents to free */
	struct replica *rep[SIMPLER_MAX_TENSORS];
	uint64_t xfer_bytes, posted_ns;	/* its transfers' bytes, when it went */
	char msg[MB_MSG];
};

struct rnode {
	struct exec *ex;
	int node, rank;
	uint32_t pid, nr_chips, nr_subs;
	char host[64];
	uint64_t arena;			/* bytes of its arena */
	struct extalloc mem;		/* node memory: simpler_malloc() */
	struct extalloc stage;		/* staged tensors and replicas */
	uint64_t heard_ns, sent_ns;
	uint32_t consumed, done;	/* own-ring frames taken, and finished */
	struct rtask *q;
	uint32_t qhead, qn;
	uint32_t callables;		/* sent so far */
	uint32_t ctl;			/* the control command in progress (0: none) */
	uint64_t ctl_ticket;
	struct sx_mpi_req *ctl_req;
	bool ctl_replied;
	bool lost;
	/* own-ring frames finished lately (seq, err): a gated frame's producers that were */
	uint64_t fin_seq[2 * MB_RING];
	int32_t fin_err[2 * MB_RING];
	uint32_t nfin;
	/* a ping-pong in progress: steps of the engine, so other nodes' heartbeats go on */
	void *ping_buf;			/* kept: a fresh buffer's page faults are not MPI's */
	uint64_t ping_cap, ping_len, ping_left, ping_t0, ping_step_ns;
	bool ping_recv;			/* waiting for the echo (else for the send) */
};

struct sx_remote {
	struct simpler_worker *w;
	struct link link;
	int n, nlocal;
	struct rnode *nodes;		/* [node - nlocal] */
	pthread_t thread;
	bool started;
	_Atomic bool stop;		/* release by the stopper, acquire by the engine */
	uint32_t hb_ms, timeout_ms;
	uint64_t tickets;
	int tag, tag_ub;
	struct replica *reps;
	struct orphan *orphans;
	struct wire_frame *taskf;	/* a TASK being built (link.tx serves small frames) */
	bool finished;			/* own-ring frames finished since the last pass */
	uint64_t calm_until;		/* bulk bytes move between others until then */
	double xfer_bpns;		/* node-to-node transfers lately: bytes per ns */
	/*
	 * One turn at a time (MPI_THREAD_SERIALIZED): the engine thread's, or
	 * the orchestrator's while it waits for its run's end (driving, the
	 * engine thread then sleeping on driver_ec).  The engine's state above
	 * (all but what start sets and stop, thread and started) changes only
	 * in a turn, under this lock.
	 */
	pthread_mutex_t turn;
	bool turn_init;
	_Atomic bool driving;
	struct ec driver_ec;
};

/*
 * A request given up on that MPI may still be working on (a receive into
 * an L4 host tensor, a send out of one: a matched request cannot be
 * cancelled): kept, with the buffer it owns, until MPI completes or fails
 * it, so nothing writes a tensor after its task failed or reads a buffer
 * freed under it.
 */
struct orphan {
	struct orphan *next;
	struct sx_mpi_req *req;
	void *buf;			/* freed with it (a view's bounce) */
};

/* a transfer a task needs: the source node's order */
struct xfer {
	struct rnode *src;
	struct replica *r;
	struct wire_send send;
};

static struct rnode *rnode_of(struct sx_remote *R, int node)
{
	return node >= R->nlocal && node < R->nlocal + R->n ? &R->nodes[node - R->nlocal] : NULL;
}

static struct rnode *rnode_by_rank(struct sx_remote *R, int rank)
{
	return rank >= 1 && rank <= R->n ? &R->nodes[rank - 1] : NULL;
}

static bool writes(unsigned acc)
{
	return acc != SIMPLER_IN;	/* NO_DEP may write too: it is staged both ways */
}

static bool reads(unsigned acc)
{
	return acc != SIMPLER_OUT;
}

/* ---- replicas: node-to-node transfers and their cache ---- */

static void replica_free(struct sx_remote *R, struct replica *r)
{
	struct replica **p;

	for (p = &R->reps; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	sx_extalloc_free(&R->nodes[r->dst - R->nlocal].stage, r->roff);
	free(r);
}

static void replica_put(struct sx_remote *R, struct replica *r)
{
	if (--r->refs == 0 && !r->valid)
		replica_free(R, r);
}

/* src's range [off, off + len) is written or gone: no later reader gets an old copy */
static void replicas_invalidate(struct sx_remote *R, int src, uint64_t off, uint64_t len)
{
	struct replica *r, *next;

	for (r = R->reps; r; r = next) {
		next = r->next;
		if (r->src != src || r->off >= off + len || off >= r->off + r->len)
			continue;
		r->valid = false;
		if (!r->refs)
			replica_free(R, r);
	}
}

/* every replica to or from a lost node */
static void replicas_drop_node(struct sx_remote *R, int node)
{
	struct replica *r, *next;

	for (r = R->reps; r; r = next) {
		next = r->next;
		if (r->src != node && r->dst != node)
			continue;
		r->valid = false;
		if (!r->refs)
			replica_free(R, r);
	}
}

/* ---- the mailbox side: results and the control lane ---- */

static void ctl_finish(struct rnode *rn, int err, uint64_t r0, const char *msg)
{
	struct mailbox *mb = rn->ex->mb;

	mb->ctl.err = err;
	mb->ctl.r0 = r0;
	snprintf(mb->ctl.msg, sizeof(mb->ctl.msg), "%s", msg ? msg : "");
	rn->ctl = 0;
	/* seq_cst: the result, then the state the caller acquires (sx_lane_ctl()) */
	atomic_store_explicit(&mb->ctl_state, MB_DONE, memory_order_seq_cst);
	ec_notify(&mb->parent_ec);
}

/* req (and buf, if any) to be finished by MPI: see struct orphan */
static void orphan_add(struct sx_remote *R, struct sx_mpi_req *req, void *buf)
{
	struct orphan *o = malloc(sizeof(*o));
	char err[64];
	int done;

	if (!o) {
		/* out of memory: wait for it here rather than free what MPI may use */
		while (!R->link.mpi->test(req, &done, err, sizeof(err)) && !done)
			cpu_relax();
		free(buf);
		return;
	}
	*o = (struct orphan){ R->orphans, req, buf };
	R->orphans = o;
}

/* orphans MPI is done with: freed */
static void orphans_poll(struct sx_remote *R)
{
	struct orphan **p = &R->orphans, *o;
	char err[64];
	int done;

	while ((o = *p)) {
		done = 0;
		if (R->link.mpi->test(o->req, &done, err, sizeof(err)) || done) {
			*p = o->next;
			free(o->buf);
			free(o);
		} else {
			p = &o->next;
		}
	}
}

/* give back what t holds: arena ranges, replica references, MPI requests */
static void rtask_release(struct sx_remote *R, struct rnode *rn, struct rtask *t)
{
	uint32_t i;
	char err[64];
	int done;

	/* staged bytes read out of host tensors: done already, unless the node was lost */
	for (i = 0; i < t->nin; i++) {
		done = 0;
		if (!R->link.mpi->test(t->in[i], &done, err, sizeof(err)) && !done)
			orphan_add(R, t->in[i], NULL);
	}
	for (i = 0; i < t->nout; i++) {
		if (t->out[i].req)
			orphan_add(R, t->out[i].req, t->out[i].bounce);
		else
			free(t->out[i].bounce);
	}
	for (i = 0; i < t->next; i++)
		sx_extalloc_free(&rn->stage, t->ext[i]);
	for (i = 0; i < t->nrep; i++)
		replica_put(R, t->rep[i]);
	t->nin = t->nout = t->next = t->nrep = 0;
}

/*
 * Tell src to drop its sends to rank dst on tag (0: every tag): their
 * reader is gone, or never got its task.  A send that fails here means
 * src is in trouble itself; its own loss is found by its silence.
 */
static void cancel_sends(struct sx_remote *R, struct rnode *src, int dst, uint32_t tag)
{
	struct wire_frame *f = R->link.tx;
	char err[256];

	if (src->lost)
		return;
	f->h.type = WIRE_CTRL;
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_CANCEL, 0, (uint64_t)dst, tag };
	if (!sx_link_send(&R->link, src->rank, f, err, sizeof(err)))
		src->sent_ns = now_ns();
}

/*
 * A node is lost (silent past the timeout, or it broke the protocol): its
 * slot dies for good.  What it was running fails through the dispatcher's
 * reaping of a dead slot (lanes.c), with lost_err and ex->death.
 */
static void lose(struct sx_remote *R, struct rnode *rn, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void lose(struct sx_remote *R, struct rnode *rn, int err, const char *fmt, ...)
{
	struct simpler_worker *w = R->w;
	struct exec *ex = rn->ex;
	va_list ap;
	int k;

	if (rn->lost)
		return;
	rn->lost = true;
	va_start(ap, fmt);
	vsnprintf(ex->death, sizeof(ex->death), fmt, ap);
	va_end(ap);
	while (rn->qn) {
		rtask_release(R, rn, &rn->q[rn->qhead]);
		rn->qhead = (rn->qhead + 1) % RQ;
		rn->qn--;
	}
	if (rn->ctl_req)
		R->link.mpi->drop(rn->ctl_req);
	rn->ctl_req = NULL;
	replicas_drop_node(R, rn->node);
	/* transfers to it would hold their sources' memory until their deadlines */
	for (k = 0; k < R->n; k++)
		cancel_sends(R, &R->nodes[k], rn->rank, 0);
	ex->lost_err = err;
	R->link.peer_lost = true;
	atomic_fetch_add_explicit(&w->st_lost, 1, memory_order_relaxed);
	atomic_store_explicit(&ex->mb->claimed, 0, memory_order_relaxed);
	/* death and lost_err first; pairs with the acquire loads in exec_dead() */
	atomic_store_explicit(&ex->dead, true, memory_order_seq_cst);
	ec_notify(&ex->mb->parent_ec);
	ec_notify(&w->pshared->disp_ec);
	fprintf(stderr, "simpler: %s is lost: %s\n", ex->tag, ex->death);
}

/* an MPI call about rn failed: the session with it is over */
static void lose_mpi(struct sx_remote *R, struct rnode *rn, int ret, const char *what,
		     const char *err)
{
	lose(R, rn, ret == -ETIMEDOUT ? -EHOSTDOWN : ret == -EPROTO ? -EPROTO : -EIO,
	     "%s failed: %s", what, err);
}

static int send_frame(struct sx_remote *R, struct rnode *rn, struct wire_frame *f)
{
	char err[256];
	int ret = sx_link_send(&R->link, rn->rank, f, err, sizeof(err));

	if (ret)
		lose_mpi(R, rn, ret, "sending a frame", err);
	else
		rn->sent_ns = now_ns();
	return ret;
}

/* ---- control commands (simpler_malloc() and friends on a remote node) ---- */

/* [addr, addr + n) inside one live allocation of rn's node memory?  Its offset, or -errno */
static int mem_range(struct rnode *rn, uint64_t addr, uint64_t n, uint64_t *off, char *msg,
		     size_t len)
{
	const struct extent *e;
	int owner = node_mem_owner(addr);

	if (owner != rn->node) {
		snprintf(msg, len, "0x%" PRIx64 " is not node %d's memory (%s)", addr, rn->node,
			 owner >= 0 ? "another node's" : "not node memory at all");
		return -EFAULT;
	}
	*off = node_mem_off(addr);
	e = sx_extalloc_find(&rn->mem, *off);
	if (!e || *off + n > e->addr + e->size || *off + n < *off) {
		snprintf(msg, len, "0x%" PRIx64 "..0x%" PRIx64 " is not inside one live allocation "
			 "of node %d", addr, addr + n, rn->node);
		return -EFAULT;
	}
	return 0;
}

static void ctl_send(struct sx_remote *R, struct rnode *rn, uint32_t op, uint64_t off,
		     uint64_t len)
{
	struct wire_frame *f = R->link.tx;

	f->h.type = WIRE_CTRL;
	f->u.ctrl = (struct wire_ctrl){ op, ++R->tickets, off, len };
	rn->ctl_ticket = R->tickets;
	send_frame(R, rn, f);
}

/* the next half of a round trip of the ping-pong in progress: 0, or -errno */
static int ping_post(struct sx_remote *R, struct rnode *rn, char *msg, size_t len)
{
	const struct sx_mpi_ops *mpi = R->link.mpi;

	rn->ping_step_ns = now_ns();
	return rn->ping_recv ? mpi->irecv(rn->ping_buf, rn->ping_len, rn->rank, LINK_TAG_PING,
					  &rn->ctl_req, msg, len) :
			       sx_link_isend(&R->link, rn->ping_buf, rn->ping_len, rn->rank,
					     LINK_TAG_PING, &rn->ctl_req, msg, len);
}

/* start reps round trips of bytes with rn's rank (MPI alone, timed): 0, or -errno */
static int ping_start(struct sx_remote *R, struct rnode *rn, uint64_t bytes, uint64_t reps,
		      char *msg, size_t len)
{
	if (bytes > rn->ping_cap || !rn->ping_buf) {
		free(rn->ping_buf);
		rn->ping_cap = 0;
		rn->ping_buf = malloc(bytes ? bytes : 1);
		if (!rn->ping_buf) {
			snprintf(msg, len, "out of memory for a %" PRIu64 "-byte ping", bytes);
			return -ENOMEM;
		}
		rn->ping_cap = bytes;
		memset(rn->ping_buf, 0x5a, bytes);
	}
	rn->ping_len = bytes;
	rn->ping_left = reps;
	rn->ping_recv = false;
	ctl_send(R, rn, WIRE_CTRL_PINGPONG, reps, bytes);
	rn->ping_t0 = now_ns();
	return reps && !rn->lost ? ping_post(R, rn, msg, len) : 0;
}

/*
 * The ping-pong in progress: done (*fin, its time in *ns)?  *moved if a
 * half moved.  -errno: MPI failed, or no progress for the timeout.
 */
static int ping_progress(struct sx_remote *R, struct rnode *rn, bool *fin, bool *moved,
			 uint64_t *ns, char *msg, size_t len)
{
	int done, ret;

	*fin = *moved = false;
	while (rn->ping_left) {
		done = 0;
		ret = R->link.mpi->test(rn->ctl_req, &done, msg, len);
		if (ret) {
			rn->ctl_req = NULL;
			return ret;
		}
		if (!done) {
			if (now_ns() - rn->ping_step_ns > (uint64_t)R->timeout_ms * 1000000) {
				R->link.mpi->drop(rn->ctl_req);
				rn->ctl_req = NULL;
				snprintf(msg, len, "no progress for %u ms", R->timeout_ms);
				return -ETIMEDOUT;
			}
			return 0;
		}
		rn->ctl_req = NULL;
		*moved = true;
		if (rn->ping_recv) {
			rn->heard_ns = now_ns();	/* its echo: it is alive */
			rn->ping_left--;
		}
		rn->ping_recv = !rn->ping_recv;
		if (rn->ping_left) {
			ret = ping_post(R, rn, msg, len);
			if (ret)
				return ret;
		}
	}
	*ns = now_ns() - rn->ping_t0;
	*fin = true;
	return 0;
}

/* a control command posted to rn's mailbox: serve it, or start it over MPI */
static void ctl_start(struct sx_remote *R, struct rnode *rn)
{
	struct mailbox *mb = rn->ex->mb;
	struct mb_ctl *k = &mb->ctl;
	const struct extent *e;
	struct rnode *peer;
	struct wire_frame *f;
	char msg[MB_MSG];
	uint64_t off = 0, r0 = 0;
	int ret = 0;

	msg[0] = 0;
	switch (k->op) {
	case MB_OP_PING:
	case MB_OP_UNMAP:
		break;
	case MB_OP_ALLOC:
		ret = sx_extalloc_alloc(&rn->mem, k->a0, &off);
		if (ret)
			snprintf(msg, sizeof(msg), "%" PRIu64 " bytes do not fit in node %d's memory "
				 "(%" PRIu64 " of %" PRIu64 " bytes in use; it is half of stage_size)",
				 k->a0, rn->node, rn->mem.used, rn->mem.size);
		r0 = node_mem_addr(rn->node, off);
		break;
	case MB_OP_FREE:
		ret = mem_range(rn, k->a0, 1, &off, msg, sizeof(msg));
		e = ret ? NULL : sx_extalloc_find(&rn->mem, off);
		if (!ret && e->addr != off) {
			snprintf(msg, sizeof(msg), "0x%" PRIx64 " is inside an allocation of node %d "
				 "but not its start", k->a0, rn->node);
			ret = -EINVAL;
		}
		if (ret) {
			ret = -EINVAL;
			break;
		}
		replicas_invalidate(R, rn->node, e->addr, e->size);
		ctl_send(R, rn, WIRE_CTRL_DISCARD, e->addr, e->size);
		sx_extalloc_free(&rn->mem, off);
		break;
	case MB_OP_CHECK:
		ret = mem_range(rn, k->a0, k->a1, &off, msg, sizeof(msg));
		break;
	case MB_OP_COPY_TO:
	case MB_OP_COPY_FROM:
		ret = k->a1 > MB_WINDOW ? -E2BIG : mem_range(rn, k->a0, k->a1, &off, msg, sizeof(msg));
		if (ret)
			break;
		if (k->op == MB_OP_COPY_TO) {
			replicas_invalidate(R, rn->node, off, k->a1);
			ctl_send(R, rn, WIRE_CTRL_COPY_TO, off, k->a1);
			ret = rn->lost ? 0 : R->link.mpi->isend(mb->window, k->a1, rn->rank,
								 LINK_TAG_COPY, &rn->ctl_req, msg,
								 sizeof(msg));
			atomic_fetch_add_explicit(&R->w->st_to_nodes, k->a1, memory_order_relaxed);
		} else {
			ctl_send(R, rn, WIRE_CTRL_COPY_FROM, off, k->a1);
		}
		if (ret) {
			lose_mpi(R, rn, ret, "sending a copy", msg);
			return;
		}
		if (rn->lost)
			return;		/* the caller sees the slot dead */
		rn->ctl = k->op;
		rn->ctl_replied = false;
		return;
	case MB_OP_PEERPING:
		peer = rnode_of(R, (int)(k->a1 >> 32));
		if (!peer || peer == rn || peer->lost) {
			ret = peer && peer != rn ? -EHOSTDOWN : -EINVAL;
			snprintf(msg, sizeof(msg), "node %d is %s", (int)(k->a1 >> 32),
				 ret == -EHOSTDOWN ? "lost" : "not another remote node");
			break;
		}
		/* the echoing end first (no ticket: it does not reply), then the timing one */
		f = R->link.tx;
		f->h.type = WIRE_CTRL;
		f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PEER_ECHO, 0,
						((uint64_t)rn->rank << 32) | (k->a1 & 0xffffffff),
						k->a0 };
		send_frame(R, peer, f);
		ctl_send(R, rn, WIRE_CTRL_PEER_PING,
			 ((uint64_t)peer->rank << 32) | (k->a1 & 0xffffffff), k->a0);
		if (rn->lost)
			return;
		rn->ctl = k->op;
		rn->ctl_replied = false;
		return;
	case MB_OP_PINGPONG:
		ret = ping_start(R, rn, k->a0, k->a1, msg, sizeof(msg));
		if (ret == -ENOMEM)
			break;
		if (ret) {
			lose_mpi(R, rn, ret, "a ping-pong", msg);
			return;
		}
		if (rn->lost)
			return;
		rn->ctl = k->op;
		return;
	default:
		ret = -EINVAL;
		snprintf(msg, sizeof(msg), "unknown control command %u", k->op);
		break;
	}
	ctl_finish(rn, ret, r0, msg);
}

/* a copy in progress: done once its bytes moved and the node replied; or a ping-pong */
static bool ctl_progress(struct sx_remote *R, struct rnode *rn)
{
	char err[256];
	int done = 1, ret;
	uint64_t ns = 0;
	bool fin, moved;

	if (rn->ctl == MB_OP_PINGPONG) {
		ret = ping_progress(R, rn, &fin, &moved, &ns, err, sizeof(err));
		if (ret)
			lose_mpi(R, rn, ret, "a ping-pong", err);
		else if (fin)
			ctl_finish(rn, 0, ns, NULL);
		return ret || moved || fin;
	}

	if (rn->ctl_req) {
		ret = R->link.mpi->test(rn->ctl_req, &done, err, sizeof(err));
		if (ret) {
			rn->ctl_req = NULL;
			lose_mpi(R, rn, ret, "a copy", err);
			return true;
		}
		if (done)
			rn->ctl_req = NULL;
	}
	if (!done || !rn->ctl_replied)
		return false;
	if (rn->ctl == MB_OP_COPY_FROM)
		atomic_fetch_add_explicit(&R->w->st_from_nodes, rn->ex->mb->ctl.a1,
					  memory_order_relaxed);
	ctl_finish(rn, 0, 0, NULL);
	return true;
}

static void ctl_reply(struct sx_remote *R, struct rnode *rn, const struct wire_ctrl_reply *r)
{
	struct mailbox *mb = rn->ex->mb;
	char err[256];
	int ret;

	uint32_t op = rn->ctl == MB_OP_COPY_TO ? WIRE_CTRL_COPY_TO :
		      rn->ctl == MB_OP_COPY_FROM ? WIRE_CTRL_COPY_FROM :
		      rn->ctl == MB_OP_PEERPING ? WIRE_CTRL_PEER_PING : 0;

	if (!op || r->ticket != rn->ctl_ticket || r->op != op || rn->ctl_replied) {
		lose(R, rn, -EPROTO, "it replied to control command #%" PRIu64 " (op %u), which is "
		     "not the one in progress", r->ticket, r->op);
		return;
	}
	if (op == WIRE_CTRL_PEER_PING) {
		ctl_finish(rn, r->err, r->value, r->msg);
		return;
	}
	if (r->err) {
		if (rn->ctl_req)
			R->link.mpi->drop(rn->ctl_req);
		rn->ctl_req = NULL;
		ctl_finish(rn, r->err, 0, r->msg);
		return;
	}
	rn->ctl_replied = true;
	if (rn->ctl == MB_OP_COPY_FROM) {
		ret = R->link.mpi->irecv(mb->window, mb->ctl.a1, rn->rank, LINK_TAG_DATA,
					 &rn->ctl_req, err, sizeof(err));
		if (ret)
			lose_mpi(R, rn, ret, "receiving a copy", err);
	}
}

/* ---- tasks ---- */

static void callables_sync(struct sx_remote *R, struct rnode *rn)
{
	const struct shared_callables *ct = R->w->ctab;
	uint32_t n = callables_count(ct);
	struct wire_frame *f = R->link.tx;

	for (; rn->callables < n && !rn->lost; rn->callables++) {
		const struct shared_callable *c = &ct->v[rn->callables];

		f->h.type = WIRE_CALLABLE;
		f->u.callable.id = rn->callables;
		f->u.callable.kind = c->kind;
		f->u.callable.offset = c->fn - c->obj_base;
		snprintf(f->u.callable.name, sizeof(f->u.callable.name), "%s", c->name);
		snprintf(f->u.callable.obj, sizeof(f->u.callable.obj), "%s", c->obj);
		send_frame(R, rn, f);
	}
}

#define TFAIL(t, e, ...) (snprintf((t)->msg, sizeof((t)->msg), __VA_ARGS__), (t)->err = (e), \
			  (t)->local = true)

/*
 * Host tensor i of f: a range of rn's stage, its bytes sent with the task
 * if it may read them, brought back after it if it may write them.
 */
static int stage_host(struct sx_remote *R, struct rnode *rn, struct rtask *t, struct wire_task *wt,
		      uint32_t i, const uint64_t *st)
{
	const struct simpler_tensor *x = &t->f->tensors[i];
	uint8_t acc = t->f->acc[i];
	uint64_t span = sx_arg_span(x, st), off;

	if (sx_extalloc_alloc(&rn->stage, span, &off)) {
		TFAIL(t, -ENOMEM, "%s: staging tensor %u (%" PRIu64 " bytes) of node fn '%s' "
		      "(task #%" PRIu64 "): its arena is full (%" PRIu64 " of %" PRIu64 " bytes "
		      "in use): raise stage_size", rn->ex->tag, i, span,
		      R->w->ctab->v[t->f->callable].name, t->f->seq, rn->stage.used,
		      rn->stage.size);
		return -ENOMEM;
	}
	t->ext[t->next++] = off;
	wt->tensors[i].addr = off;
	wt->io[i] = (reads(acc) ? WIRE_IO_IN : 0) | (writes(acc) ? WIRE_IO_OUT : 0);
	if (wt->io[i] & WIRE_IO_OUT) {
		struct rout *o = &t->out[t->nout++];

		memset(o, 0, sizeof(*o));
		o->host = x->addr;
		o->span = span;
		if (st) {
			sx_layout_of(x, st, &o->lay);
			o->view = o->lay.nd != 0;
		}
	}
	t->bytes += span * (((wt->io[i] & WIRE_IO_IN) != 0) + ((wt->io[i] & WIRE_IO_OUT) != 0));
	return 0;
}

/* after the TASK frame: the bytes of every tensor it reads, in tensor order */
static void stage_in(struct sx_remote *R, struct rnode *rn, struct rtask *t,
		     const struct wire_task *wt)
{
	const struct mb_task *f = t->f;
	char err[256];
	uint32_t i;
	int ret;

	for (i = 0; i < wt->nr_tensors; i++) {
		uint64_t span;

		if (!(wt->io[i] & WIRE_IO_IN))
			continue;
		span = sx_wire_span(wt, i);
		ret = R->link.mpi->isend((const void *)(uintptr_t)f->tensors[i].addr, span,
					 rn->rank, LINK_TAG_DATA, &t->in[t->nin], err, sizeof(err));
		if (ret) {
			lose_mpi(R, rn, ret, "staging a tensor", err);
			return;
		}
		t->nin++;
		atomic_fetch_add_explicit(&R->w->st_to_nodes, span, memory_order_relaxed);
	}
}


/*
 * Node-memory tensor i of f: rn's own (used where it is), or another
 * node's, which only a read may name: a replica on rn, from the cache or
 * by a transfer the source node sends straight to rn's rank (*x set).
 */
static int node_tensor(struct sx_remote *R, struct rnode *rn, struct rtask *t, struct wire_task *wt,
		       uint32_t i, const uint64_t *st, struct xfer *x, bool *xfer)
{
	struct simpler_worker *w = R->w;
	const struct simpler_tensor *ts = &t->f->tensors[i];
	const char *name = w->ctab->v[t->f->callable].name;
	int owner = node_mem_owner(ts->addr);
	uint64_t off = node_mem_off(ts->addr), span = sx_arg_span(ts, st), roff;
	struct rnode *src = rnode_of(R, owner);
	struct replica *r;
	char why[256];
	bool cacheable;

	*xfer = false;
	if (owner == rn->node) {
		if (mem_range(rn, ts->addr, span, &off, why, sizeof(why))) {
			TFAIL(t, -EFAULT, "%s: node fn '%s' (task #%" PRIu64 "): tensor %u: %s",
			      rn->ex->tag, name, t->f->seq, i, why);
			return -EFAULT;
		}
		wt->tensors[i].addr = off;
		if (writes(t->f->acc[i]))
			replicas_invalidate(R, rn->node, off, span);
		return 0;
	}
	if (!src || writes(t->f->acc[i])) {
		TFAIL(t, -EXDEV, "%s: node fn '%s' (task #%" PRIu64 "): tensor %u at 0x%" PRIx64
		      " is %s: a task may read another node's memory, and write only its own",
		      rn->ex->tag, name, t->f->seq, i, ts->addr,
		      src ? "another node's memory" : "no remote node's memory");
		return -EXDEV;
	}
	if (src->lost) {
		TFAIL(t, -EHOSTDOWN, "%s: node fn '%s' (task #%" PRIu64 "): tensor %u lives on %s, "
		      "which was lost (%s)", rn->ex->tag, name, t->f->seq, i, src->ex->tag,
		      src->ex->death);
		return -EHOSTDOWN;
	}
	if (mem_range(src, ts->addr, span, &off, why, sizeof(why))) {
		TFAIL(t, -EFAULT, "%s: node fn '%s' (task #%" PRIu64 "): tensor %u: %s",
		      rn->ex->tag, name, t->f->seq, i, why);
		return -EFAULT;
	}
	/* a view's span has bytes it does not order: only plain ranges are cached */
	cacheable = !st;
	for (r = R->reps; cacheable && r; r = r->next)
		if (r->valid && r->dst == rn->node && r->src == owner && r->off <= off &&
		    off + span <= r->off + r->len) {
			r->refs++;
			t->rep[t->nrep++] = r;
			wt->tensors[i].addr = r->roff + (off - r->off);
			wt->io[i] = WIRE_IO_REPLICA;
			atomic_fetch_add_explicit(&w->st_hits, 1, memory_order_relaxed);
			return 0;
		}
	if (sx_extalloc_alloc(&rn->stage, span, &roff)) {
		TFAIL(t, -ENOMEM, "%s: node fn '%s' (task #%" PRIu64 "): tensor %u from %s "
		      "(%" PRIu64 " bytes) does not fit in its arena: raise stage_size",
		      rn->ex->tag, name, t->f->seq, i, src->ex->tag, span);
		return -ENOMEM;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		sx_extalloc_free(&rn->stage, roff);
		TFAIL(t, -ENOMEM, "%s: out of memory", rn->ex->tag);
		return -ENOMEM;
	}
	/*
	 * Valid (for later readers on rn, which rn runs after this task, so after
	 * the bytes came) only once the transfer is ordered: a task failed
	 * before that leaves nothing to read.
	 */
	*r = (struct replica){ R->reps, owner, rn->node, off, span, roff, 1, false, cacheable };
	R->reps = r;
	t->rep[t->nrep++] = r;
	wt->tensors[i].addr = roff;
	wt->io[i] = WIRE_IO_REPLICA;
	if (++R->tag > R->tag_ub)
		R->tag = LINK_TAG_XFER;
	wt->recvs[wt->nr_recvs++] = (struct wire_recv){ (uint32_t)src->rank, (uint32_t)R->tag,
							roff, span };
	x->src = src;
	x->r = r;
	x->send = (struct wire_send){ (uint32_t)rn->rank, (uint32_t)R->tag, off, span };
	*xfer = true;
	atomic_fetch_add_explicit(&w->st_transfers, 1, memory_order_relaxed);
	return 0;
}

/*
 * Gated frame f (sched.c): its producers, posted before it, by seq.  Those
 * still on rn's rank become waits (their tickets: rn runs f after them and
 * only if they succeed); one known to have failed fails f here.  True if f
 * may go.
 */
static bool task_after(struct sx_remote *R, struct rnode *rn, struct rtask *t,
		       const struct mb_gate *g, struct wire_task *wt)
{
	const struct mb_task *f = t->f;
	const char *name = R->w->ctab->v[f->callable].name;
	const struct rtask *p;
	uint32_t i, k;
	int32_t err;

	if (g->poisoned) {
		TFAIL(t, -ECANCELED, "%s: node fn '%s' (task #%" PRIu64 ") did not run: a task it "
		      "depends on failed", rn->ex->tag, name, f->seq);
		return false;
	}
	for (i = 0; i < g->nr_after; i++) {
		/* in flight here (the new one is last, not counted) */
		for (k = 0, p = NULL; k + 1 < rn->qn; k++) {
			p = &rn->q[(rn->qhead + k) % RQ];
			if (p->pr < 0 && p->f->seq == g->after[i])
				break;
			p = NULL;
		}
		if (p && !p->local && !(p->replied && p->err)) {
			if (!p->replied)
				wt->after[wt->nr_after++] = p->ticket;
			continue;
		}
		if (p) {
			err = p->err;
		} else {
			/* finished here since it was posted: the latest of that seq */
			for (k = 0; k < rn->nfin && k < 2 * MB_RING; k++)
				if (rn->fin_seq[(rn->nfin - 1 - k) % (2 * MB_RING)] == g->after[i])
					break;
			err = k < rn->nfin && k < 2 * MB_RING ?
			      rn->fin_err[(rn->nfin - 1 - k) % (2 * MB_RING)] : -EPROTO;
		}
		if (err) {
			TFAIL(t, -ECANCELED, "%s: node fn '%s' (task #%" PRIu64 ") did not run: "
			      "task #%" PRIu64 ", which it depends on, failed", rn->ex->tag, name,
			      f->seq, g->after[i]);
			return false;
		}
	}
	return true;
}

/*
 * Turn frame f (posted to rn: own ring, or pool frame pr) into a TASK for
 * rn's rank, with the staged bytes after it and the transfers it needs
 * ordered from their sources.  A failure before anything was sent fails
 * the task here; it still completes in order.
 */
static void task_post(struct sx_remote *R, struct rnode *rn, struct mb_task *f,
		      const struct mb_gate *g, int pr)
{
	struct rtask *t = &rn->q[(rn->qhead + rn->qn) % RQ];
	struct wire_frame *wf = R->taskf;
	struct wire_task *wt = &wf->u.task;
	struct xfer xs[SIMPLER_MAX_TENSORS];
	struct link_out *out;
	uint64_t xfer_bytes, calm;
	uint32_t i, nx = 0;
	char why[256];
	bool xfer;
	int ret = 0;

	memset(t, 0, offsetof(struct rtask, in));
	t->xfer_bytes = 0;
	t->f = f;
	t->pr = pr;
	t->ticket = ++R->tickets;
	rn->qn++;
	callables_sync(R, rn);
	if (rn->lost)
		return;
	memset(wt, 0, offsetof(struct wire_task, tensors));
	wf->h.type = WIRE_TASK;
	wt->task_seq = f->seq;
	wt->ticket = t->ticket;
	wt->callable = (uint32_t)f->callable;
	wt->nr_tensors = f->nr_tensors;
	wt->nr_scalars = f->nr_scalars;
	wt->has_views = f->has_views;
	wt->nr_after = 0;
	if (g && (g->nr_after || g->poisoned) && !task_after(R, rn, t, g, wt))
		return;
	memcpy(wt->scalars, f->scalars, f->nr_scalars * sizeof(*f->scalars));
	for (i = 0; i < f->nr_tensors && !ret; i++) {
		const uint64_t *st = f->has_views ? sx_strides_at(f->strides, i) : NULL;

		wt->tensors[i] = f->tensors[i];
		wt->tensors[i].child_memory = 0;
		wt->acc[i] = f->acc[i];
		wt->io[i] = 0;
		if (f->has_views)
			memcpy(wt->strides[i], f->strides[i], sizeof(wt->strides[i]));
		if (!sx_arg_span(&f->tensors[i], st)) {
			wt->tensors[i].addr = 0;	/* empty: nothing to stage or transfer */
			continue;
		}
		if (f->tensors[i].child_memory) {
			ret = node_tensor(R, rn, t, wt, i, st, &xs[nx], &xfer);
			nx += xfer;
		} else {
			ret = stage_host(R, rn, t, wt, i, st);
		}
	}
	if (ret || rn->lost)
		return;
	/* a frame the codec refuses fails its task; the session with rn is fine */
	ret = sx_link_prepare(&R->link, rn->rank, wf, &out, why, sizeof(why));
	if (ret) {
		TFAIL(t, ret, "%s: node fn '%s' (task #%" PRIu64 "): cannot send it: %s",
		      rn->ex->tag, R->w->ctab->v[f->callable].name, f->seq, why);
		return;
	}
	/*
	 * The sources' orders first: a source found lost fails the task before
	 * it is sent, and the sources already told drop their sends (nobody
	 * will receive them).
	 */
	for (i = 0; i < nx; i++) {
		struct wire_frame *sf = R->link.tx;

		sf->h.type = WIRE_SEND;
		sf->u.send = xs[i].send;
		if (!xs[i].src->lost)
			send_frame(R, xs[i].src, sf);
		if (xs[i].src->lost) {
			uint32_t j;

			for (j = 0; j < i; j++)
				cancel_sends(R, xs[j].src, rn->rank, xs[j].send.tag);
			sx_link_unprepare(out);
			TFAIL(t, -EHOSTDOWN, "%s: node fn '%s' (task #%" PRIu64 "): its input on "
			      "%s cannot come: that node was lost (%s)", rn->ex->tag,
			      R->w->ctab->v[f->callable].name, f->seq, xs[i].src->ex->tag,
			      xs[i].src->ex->death);
			return;
		}
	}
	ret = sx_link_post(&R->link, rn->rank, out, why, sizeof(why));
	if (ret) {
		lose_mpi(R, rn, ret, "sending a task", why);
		return;
	}
	rn->sent_ns = now_ns();
	/*
	 * Bulk bytes between two other ranks: nothing comes back before they
	 * moved, and a yielding engine takes a CPU the two need.  Calm for
	 * three quarters of what they took lately, then hot for the result.
	 */
	for (i = 0, xfer_bytes = 0; i < nx; i++)
		xfer_bytes += xs[i].send.len;
	t->xfer_bytes = xfer_bytes;
	t->posted_ns = rn->sent_ns;
	calm = (uint64_t)(0.75 * (double)xfer_bytes / R->xfer_bpns);
	calm = rn->sent_ns + (calm > CALM_MAX_NS ? CALM_MAX_NS : calm);
	if (xfer_bytes >> 20 && R->calm_until < calm)
		R->calm_until = calm;
	if (wt->nr_after)
		atomic_fetch_add_explicit(&R->w->st_ahead, 1, memory_order_relaxed);
	stage_in(R, rn, t, wt);
	for (i = 0; i < nx; i++)
		xs[i].r->valid = xs[i].r->cacheable;
}

/* the DONE of rn's oldest task in flight: its written bytes come next */
static void task_done(struct sx_remote *R, struct rnode *rn, const struct wire_done *d)
{
	struct rtask *t = NULL;
	char err[256];
	uint32_t i, k;
	int ret;

	for (k = 0; k < rn->qn; k++) {
		t = &rn->q[(rn->qhead + k) % RQ];
		if (!t->local && !t->replied)
			break;
	}
	if (k == rn->qn || t->ticket != d->ticket) {
		lose(R, rn, -EPROTO, "it finished task #%" PRIu64 ", which it was not running "
		     "(%s)", d->ticket, k == rn->qn ? "none was" : "out of order");
		return;
	}
	if (!d->err && d->nr_out != t->nout) {
		lose(R, rn, -EPROTO, "it returned %u written tensors of %u", d->nr_out, t->nout);
		return;
	}
	t->replied = true;
	t->err = d->err;
	snprintf(t->msg, sizeof(t->msg), "%.*s", (int)sizeof(t->msg) - 1, d->msg);
	if (d->err)
		return;		/* a failed task writes nothing back */
	for (i = 0; i < t->nout; i++) {
		struct rout *o = &t->out[i];
		void *dst = (void *)(uintptr_t)o->host;

		if (o->view) {
			o->bounce = malloc(o->span);
			if (!o->bounce) {
				lose(R, rn, -ENOMEM, "out of memory for a written view's bytes");
				return;
			}
			dst = o->bounce;
		}
		ret = R->link.mpi->irecv(dst, o->span, rn->rank, LINK_TAG_DATA, &o->req, err,
					 sizeof(err));
		if (ret) {
			lose_mpi(R, rn, ret, "receiving a written tensor", err);
			return;
		}
	}
}

struct scatter {
	const uint8_t *from;
	uint64_t base;
};

static void scatter_run(uint64_t s, uint64_t len, void *arg)
{
	struct scatter *sc = arg;

	memcpy((void *)(uintptr_t)s, sc->from + (s - sc->base), len);
}

/* rn's oldest task: over (its written bytes in place, or failed)?  Then publish it */
static bool task_finish(struct sx_remote *R, struct rnode *rn)
{
	struct rtask *t = &rn->q[rn->qhead];
	struct simpler_worker *w = R->w;
	struct mb_task *f = t->f;
	char err[256];
	uint32_t i;
	int done, ret;

	if (!rn->qn || (!t->local && !t->replied))
		return false;
	for (i = 0; i < t->nout && !t->err; i++) {
		struct rout *o = &t->out[i];

		if (!o->req)
			continue;
		done = 0;
		ret = R->link.mpi->test(o->req, &done, err, sizeof(err));
		if (ret) {
			o->req = NULL;
			lose_mpi(R, rn, ret, "receiving a written tensor", err);
			return true;
		}
		if (!done)
			return false;
		o->req = NULL;
		atomic_fetch_add_explicit(&w->st_from_nodes, o->span, memory_order_relaxed);
		if (o->view) {
			struct scatter sc = { o->bounce, o->host };

			sx_layout_runs(&o->lay, o->host, scatter_run, &sc);
		}
	}
	/*
	 * From the task's post to its result: the node fn's time too, and its
	 * wait behind others, so an upper bound on the transfer's (the calm
	 * it gives is capped)
	 */
	if (t->xfer_bytes >> 20 && !t->err)
		R->xfer_bpns = 0.75 * R->xfer_bpns +
			       0.25 * (double)t->xfer_bytes / (double)(now_ns() - t->posted_ns + 1);
	rtask_release(R, rn, t);
	f->err = t->err;
	f->staged = t->bytes;
	snprintf(f->msg, sizeof(f->msg), "%s", t->msg);
	rn->qhead = (rn->qhead + 1) % RQ;
	rn->qn--;
	if (t->pr < 0) {
		rn->fin_seq[rn->nfin % (2 * MB_RING)] = f->seq;
		rn->fin_err[rn->nfin++ % (2 * MB_RING)] = t->err;
		/* seq_cst: the result, then (engine_main()) the baton or the wake-up */
		atomic_exchange_explicit(&rn->ex->mb->done, ++rn->done, memory_order_seq_cst);
		R->finished = true;
	} else
		mb_pool_done(w->pshared, w->chips.ring, t->pr, rn->ex->mb);
	return true;
}

/* ---- the engine ---- */

static bool pool_in_flight(struct rnode *rn)
{
	uint32_t k;

	for (k = 0; k < rn->qn; k++)
		if (rn->q[(rn->qhead + k) % RQ].pr >= 0)
			return true;
	return false;
}

/* everything rn can do now; true if anything moved */
static bool node_step(struct sx_remote *R, struct rnode *rn, uint64_t now)
{
	struct simpler_worker *w = R->w;
	struct mailbox *mb = rn->ex->mb;
	struct pool_ring *ring = w->chips.ring;
	bool moved = false;
	char err[256];
	int i;

	while (!rn->lost && task_finish(R, rn))
		moved = true;
	/* its own ring first, in order; acquire: pairs with the dispatcher's seq_cst publish */
	while (!rn->lost && rn->qn < RQ &&
	       atomic_load_explicit(&mb->posted, memory_order_acquire) != rn->consumed) {
		task_post(R, rn, &mb->task[rn->consumed % MB_RING],
			  &rn->ex->ring_gate[rn->consumed % MB_RING], -1);
		rn->consumed++;
		moved = true;
	}
	/* work for any node: one running and one waiting at most, as a process holds one */
	while (!rn->lost && rn->qn < POOL_DEPTH &&
	       atomic_load_explicit(&mb->posted, memory_order_acquire) == rn->consumed &&
	       (i = mb_pool_claim(ring, (uint32_t)rn->ex->slot)) >= 0) {
		atomic_store_explicit(&mb->claimed, 1, memory_order_relaxed);
		ring->task[i].ran_on = rn->ex->slot;
		task_post(R, rn, &ring->task[i], NULL, i);
		moved = true;
	}
	if (!rn->lost && !pool_in_flight(rn))
		atomic_store_explicit(&mb->claimed, 0, memory_order_relaxed);
	if (!rn->lost && rn->ctl)
		moved |= ctl_progress(R, rn);
	/* acquire: pairs with the caller's seq_cst exchange after it wrote the command */
	if (!rn->lost && !rn->ctl &&
	    atomic_load_explicit(&mb->ctl_state, memory_order_acquire) == MB_POSTED) {
		ctl_start(R, rn);
		moved = true;
	}
	/* now predates this turn's posts: a frame just sent is no reason for a heartbeat */
	if (!rn->lost && ns_since(now, rn->sent_ns) >= (uint64_t)R->hb_ms * 1000000) {
		if (!sx_link_send_empty(&R->link, rn->rank, WIRE_HEARTBEAT, err, sizeof(err)))
			rn->sent_ns = now;
	}
	if (!rn->lost && ns_since(now, rn->heard_ns) > (uint64_t)R->timeout_ms * 1000000)
		lose(R, rn, -EHOSTDOWN, "no heartbeat for %u ms", R->timeout_ms);
	return moved;
}

/* every frame waiting: true if any but heartbeats arrived */
static bool frames_in(struct sx_remote *R)
{
	struct rnode *rn;
	char err[256], tn[16];
	bool moved = false;
	int from, ret;

	while ((ret = sx_link_recv(&R->link, -1, &from, R->timeout_ms, err, sizeof(err))) != 0) {
		rn = rnode_by_rank(R, from);
		/* a heartbeat is no work: an idle session still naps, and a driver leaves */
		moved |= ret < 0 || R->link.rx->h.type != WIRE_HEARTBEAT;
		if (ret < 0) {
			if (rn)
				lose(R, rn, ret == -EPROTO ? -EPROTO : -EHOSTDOWN, "its session ended "
				     "on a bad frame: %s", err);
			if (!rn)
				break;
			continue;
		}
		if (!rn || rn->lost)
			continue;	/* a lost node stays lost, whatever it says now */
		rn->heard_ns = now_ns();
		switch (R->link.rx->h.type) {
		case WIRE_HEARTBEAT:
			break;
		case WIRE_DONE:
			task_done(R, rn, &R->link.rx->u.done);
			break;
		case WIRE_CTRL_REPLY:
			ctl_reply(R, rn, &R->link.rx->u.reply);
			break;
		default:
			lose(R, rn, -EPROTO, "it sent a %s frame, which nodes never send",
			     sx_wire_type_name(R->link.rx->h.type, tn, sizeof(tn)));
			break;
		}
	}
	return moved;
}

/*
 * One turn of the engine: everything it can do now; true if anything
 * moved.  The caller holds R->turn; orch: it is the orchestrator, which
 * reaps what finished in its own loop (no dispatcher thread to wake).
 */
static bool engine_turn(struct sx_remote *R, bool orch, uint64_t *now)
{
	bool moved;
	int k;

	moved = frames_in(R);
	*now = now_ns();
	for (k = 0; k < R->n; k++)
		if (!R->nodes[k].lost)
			moved |= node_step(R, &R->nodes[k], *now);
	/*
	 * Tasks finished: reap them here and post what they released (a
	 * chain's next step goes out in this same turn); the baton busy, its
	 * holder or the dispatcher thread does.
	 */
	if (R->finished) {
		bool took, again = true;

		R->finished = false;
		/* until a pass moves nothing (one may post to a dead node: the next fails it) */
		for (k = 0, took = true; took && again && k < 8; k++)
			took = sx_sched_pass(R->w, &again);
		if (!orch && (!took || again))
			mb_disp_wake(R->w->pshared);
		for (k = 0; k < R->n; k++)
			if (!R->nodes[k].lost)
				node_step(R, &R->nodes[k], *now);
	}
	if (R->orphans)
		orphans_poll(R);
	sx_link_flush(&R->link);
	return moved;
}

/* work for the engine from this process (w->kick): its own bell, if it dozes */
static void remote_kick(struct simpler_worker *w)
{
	struct sx_remote *R = w->remote;

	sx_link_ring(&R->link, R->link.rank);
}

/* the engine thread: turns, each followed by a pause (sx_link_pace()), unless driven */
static void *engine_main(void *arg)
{
	struct sx_remote *R = arg;
	struct link_pace pace = { .link = &R->link };
	uint64_t now;
	uint32_t key;
	bool moved;

	pthread_setname_np(pthread_self(), "simpler-mpi");
	/* acquire: pairs with the release store in sx_remote_stop() */
	while (!atomic_load_explicit(&R->stop, memory_order_acquire)) {
		/*
		 * The orchestrator drives: sleep until it leaves (seq_cst: a
		 * Dekker pair with its store, then notify).  The timeout is a
		 * guard only: its turns send the heartbeats meanwhile.
		 */
		if (atomic_load_explicit(&R->driving, memory_order_seq_cst)) {
			key = ec_prepare(&R->driver_ec);
			if (atomic_load_explicit(&R->driving, memory_order_seq_cst) &&
			    !atomic_load_explicit(&R->stop, memory_order_acquire))
				ec_sleep_for(&R->driver_ec, key, (uint64_t)R->hb_ms * 1000000);
			else
				ec_cancel(&R->driver_ec);
			pace.busy = 0;	/* back: hot, as after work */
			continue;
		}
		pace.mark = sx_link_mark(&R->link);
		pthread_mutex_lock(&R->turn);
		moved = engine_turn(R, false, &now);
		pace.calm_until = R->calm_until;
		pthread_mutex_unlock(&R->turn);
		sx_link_pace(&pace, moved, now);
	}
	return NULL;
}

void sx_remote_drive(struct simpler_worker *w, bool (*done)(struct simpler_worker *w))
{
	struct sx_remote *R = w->remote;
	struct link_pace pace = { .link = &R->link };
	uint64_t now;
	bool moved;

	atomic_store_explicit(&R->driving, true, memory_order_seq_cst);
	sx_sched_present(w);
	while (!done(w)) {
		/* again: a dispatcher thread took over if we were off a CPU */
		sx_sched_present(w);
		pace.mark = sx_link_mark(&R->link);
		moved = sx_sched_help(w);
		pthread_mutex_lock(&R->turn);
		moved |= engine_turn(R, true, &now);
		pace.calm_until = R->calm_until;
		pthread_mutex_unlock(&R->turn);
		/* idle a while (long tasks): the engine thread and the dispatcher wait for them */
		if (done(w) || sx_link_idle(&pace, moved, now, LINK_WARM_NS))
			break;
		sx_link_pace(&pace, moved, now);
	}
	atomic_store_explicit(&R->driving, false, memory_order_seq_cst);
	ec_notify(&R->driver_ec);
	sx_sched_let_go(w);
}

/* ---- start and stop ---- */

/* what is wrong with rank from's HELLO h: 0, or -errno and why in msg */
static int hello_check(int from, const struct wire_hello *h, const uint8_t *bid, uint32_t nbid,
		       char *msg, size_t len)
{
	char a[2 * WIRE_BUILD_ID + 1], b[2 * WIRE_BUILD_ID + 1];

	if (h->lib_version != SIMPLER_VERSION) {
		snprintf(msg, len, "rank %d (pid %u on %s) runs libsimpler %u.%u.%u, rank 0 runs %s",
			 from, h->pid, h->host, h->lib_version >> 16, (h->lib_version >> 8) & 0xff,
			 h->lib_version & 0xff, SIMPLER_VERSION_STRING);
		return -EPROTO;
	}
	if (h->build_id_len != nbid || memcmp(h->build_id, bid, nbid)) {
		snprintf(msg, len, "rank %d (pid %u on %s) runs another build of the program "
			 "(build-id %s; rank 0's is %s): every rank must run the same binary",
			 from, h->pid, h->host, sx_link_hex(h->build_id, h->build_id_len, a, sizeof(a)),
			 sx_link_hex(bid, nbid, b, sizeof(b)));
		return -EPROTO;
	}
	if (h->err) {
		snprintf(msg, len, "rank %d (pid %u on %s): %.900s", from, h->pid, h->host, h->msg);
		return h->err;
	}
	if (h->arena < 4 * MEM_BASE || h->arena > NODE_MEM_MAX) {
		snprintf(msg, len, "rank %d (pid %u on %s) reserved an arena of %" PRIu64 " bytes",
			 from, h->pid, h->host, h->arena);
		return -EPROTO;
	}
	return 0;
}

/*
 * Every node rank's HELLO, within the start timeout: 0 when all are fit,
 * else the first problem's -errno and message.
 */
static int hellos(struct sx_remote *R, char *msg, size_t len)
{
	struct simpler_worker *w = R->w;
	uint64_t deadline = now_ns() + (uint64_t)w->start_timeout_ms * 1000000;
	struct timespec ms = { 0, 1000000 };
	uint8_t bid[WIRE_BUILD_ID];
	uint32_t nbid = sx_link_build_id(bid, sizeof(bid));
	char err[512], why[ERRMSG_LEN];
	int got = 0, from, ret, bad, first = 0;
	bool *heard = calloc((size_t)R->n + 1, sizeof(*heard));	/* by rank */

	msg[0] = 0;
	if (!heard) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	while (got < R->n) {
		ret = sx_link_recv(&R->link, -1, &from, w->start_timeout_ms, err, sizeof(err));
		if (ret == 0) {
			if (now_ns() > deadline) {
				snprintf(msg, len, "%d of %d node ranks said nothing within %u ms "
					 "(raise start_timeout_ms?)", R->n - got, R->n,
					 w->start_timeout_ms);
				free(heard);
				return -ETIMEDOUT;
			}
			nanosleep(&ms, NULL);
			continue;
		}
		/* ranks, not frames: a second HELLO must not stand in for a silent rank */
		if (from >= 1 && from <= R->n && !heard[from]) {
			heard[from] = true;
			got++;
		} else if (ret > 0) {
			ret = -EPROTO;
			snprintf(err, sizeof(err), "it spoke again before the verdict");
		}
		if (ret < 0) {
			bad = ret;
			snprintf(why, sizeof(why), "rank %d: %s", from, err);
		} else if (R->link.rx->h.type != WIRE_HELLO) {
			bad = -EPROTO;
			snprintf(why, sizeof(why), "rank %d spoke before its HELLO", from);
		} else {
			const struct wire_hello *h = &R->link.rx->u.hello;
			struct rnode *rn = &R->nodes[from - 1];

			bad = hello_check(from, h, bid, nbid, why, sizeof(why));
			rn->pid = h->pid;
			rn->nr_chips = h->nr_chips;
			rn->nr_subs = h->nr_subs;
			rn->arena = h->arena;
			snprintf(rn->host, sizeof(rn->host), "%s", h->host);
		}
		if (bad && !first) {
			first = bad;
			snprintf(msg, len, "%s", why);
		}
	}
	free(heard);
	return first;
}

int sx_remote_start(struct simpler_worker *w, const struct sx_mpi_ops *ops, int size,
		    uint32_t timeout_ms)
{
	struct sx_remote *R = calloc(1, sizeof(*R));
	struct wire_frame *f;
	char err[ERRMSG_LEN];
	int k, ret, verdict;

	if (!R)
		return werr(w, -ENOMEM, "out of memory");
	w->remote = R;
	R->w = w;
	R->link.mpi = ops;
	R->n = size - 1;
	R->nlocal = w->ncfg->nlocal;
	R->timeout_ms = timeout_ms;
	R->hb_ms = timeout_ms / 30 > 5 ? timeout_ms / 30 : 5;
	R->nodes = calloc((size_t)R->n, sizeof(*R->nodes));
	R->taskf = malloc(sizeof(*R->taskf));
	if (!R->nodes || !R->taskf)
		return werr(w, -ENOMEM, "out of memory");
	for (k = 0; k < R->n; k++) {
		R->nodes[k].node = R->nlocal + k;
		R->nodes[k].rank = k + 1;
		R->nodes[k].ex = &w->chips.ex[R->nlocal + k];
	}
	ret = sx_link_open(&R->link, 0, size, err, sizeof(err));
	if (ret)
		return werr(w, ret, "cannot start MPI: %s", err);
	R->tag_ub = ops->tag_ub();
	R->tag = LINK_TAG_XFER;
	R->xfer_bpns = 16.0;	/* 16 GB/s to start with: a short first calm */
	ec_init(&R->driver_ec, false);
	ret = -pthread_mutex_init(&R->turn, NULL);
	if (ret)
		return werr(w, ret, "cannot make the MPI engine's lock: %s", strerror(-ret));
	R->turn_init = true;
	verdict = hellos(R, err, sizeof(err));
	f = R->link.tx;
	for (k = 1; k < size; k++) {
		char why[256];

		f->h.type = WIRE_VERDICT;
		f->u.verdict = (struct wire_verdict){ verdict, (uint32_t)(R->nlocal + k - 1),
						      R->hb_ms, timeout_ms, "" };
		snprintf(f->u.verdict.msg, sizeof(f->u.verdict.msg), "%s", err);
		if (sx_link_send(&R->link, k, f, why, sizeof(why)) && !verdict) {
			verdict = -EIO;
			snprintf(err, sizeof(err), "rank %d: %s", k, why);
		}
	}
	if (verdict)
		return werr(w, verdict, "%s", err);
	for (k = 0; k < R->n; k++) {
		struct rnode *rn = &R->nodes[k];
		struct exec *ex = rn->ex;

		if (sx_extalloc_init(&rn->mem, MEM_BASE, rn->arena / 2 - MEM_BASE, ARENA_ALIGN) ||
		    sx_extalloc_init(&rn->stage, rn->arena / 2, rn->arena - rn->arena / 2,
				     ARENA_ALIGN) ||
		    !(rn->q = calloc(RQ, sizeof(*rn->q))))
			return werr(w, -ENOMEM, "out of memory");
		ex->pid = (pid_t)rn->pid;
		snprintf(ex->tag, sizeof(ex->tag), "node %d (rank %d on %s, pid %u)", rn->node,
			 rn->rank, rn->host, rn->pid);
		ex->mb->kind = 1;
		ex->mb->index = rn->node;
		rn->heard_ns = rn->sent_ns = now_ns();
		/* seq_cst, as a child's READY */
		atomic_store_explicit(&ex->mb->boot, MB_READY, memory_order_seq_cst);
	}
	ret = -pthread_create(&R->thread, NULL, engine_main, R);
	if (ret)
		return werr(w, ret, "cannot start the MPI engine thread: %s", strerror(-ret));
	R->started = true;
	w->drain = sx_remote_drive;
	w->kick = remote_kick;
	return 0;
}

void sx_remote_stop(struct simpler_worker *w)
{
	struct sx_remote *R = w->remote;
	struct replica *r, *next;
	char err[256];
	int k;

	if (!R)
		return;
	w->drain = NULL;
	w->kick = NULL;
	if (R->started) {
		/* release: pairs with the engine's acquire load */
		atomic_store_explicit(&R->stop, true, memory_order_release);
		pthread_join(R->thread, NULL);
	}
	/* a node rank that got a failing verdict is gone already */
	for (k = 0; R->started && R->link.open && k < R->n; k++)
		if (!R->nodes[k].lost)
			sx_link_send_empty(&R->link, R->nodes[k].rank, WIRE_SHUTDOWN, err,
					   sizeof(err));
	for (k = 0; R->nodes && k < R->n; k++) {
		struct rnode *rn = &R->nodes[k];

		while (rn->qn) {	/* none: no run is in progress */
			rtask_release(R, rn, &rn->q[rn->qhead]);
			rn->qhead = (rn->qhead + 1) % RQ;
			rn->qn--;
		}
	}
	/* every node rank is told to stop: what MPI still holds is given up before it ends */
	while (R->orphans) {
		struct orphan *o = R->orphans;

		R->orphans = o->next;
		if (R->link.open)
			R->link.mpi->drop(o->req);
		free(o->buf);
		free(o);
	}
	sx_link_close(&R->link);
	for (k = 0; R->nodes && k < R->n; k++) {
		struct rnode *rn = &R->nodes[k];

		free(rn->q);
		free(rn->ping_buf);
		sx_extalloc_fini(&rn->mem);
		sx_extalloc_fini(&rn->stage);
	}
	for (r = R->reps; r; r = next) {
		next = r->next;
		free(r);
	}
	free(R->nodes);
	free(R->taskf);
	if (R->turn_init)
		pthread_mutex_destroy(&R->turn);
	free(R);
	w->remote = NULL;
}

void sx_remote_info(const struct simpler_worker *w, int i, struct simpler_node_info *info)
{
	const struct sx_remote *R = w->remote;
	const struct rnode *rn = &R->nodes[i - R->nlocal];

	info->rank = rn->rank;
	info->pid = (int)rn->pid;
	info->nr_chips = (int)rn->nr_chips;
	info->nr_subs = (int)rn->nr_subs;
	info->lost = exec_dead(&w->chips.ex[i]);
	info->fault_isolated = R->link.recovery;
	snprintf(info->host, sizeof(info->host), "%s", rn->host);
}

SIMPLER_API int simpler_node_ping_pair(struct simpler_worker *w, int from, int to, size_t bytes,
				       uint32_t reps, uint64_t *ns)
{
	struct exec *a, *b;
	char msg[MB_MSG];
	int ret;

	if (!w)
		return werr(NULL, -EINVAL, "node_ping_pair: NULL worker");
	if (!node_remote(w, from) || !node_remote(w, to) || from == to)
		return werr(w, -EINVAL, "node_ping_pair: nodes %d and %d are not two remote nodes of "
			    "this worker", from, to);
	if (!ns || bytes > (1ULL << 32))
		return werr(w, -EINVAL, "node_ping_pair: NULL ns, or more than 4 GiB a message");
	/* both nodes' control locks, in node order: nothing else controls either meanwhile */
	a = &w->chips.ex[from < to ? from : to];
	b = &w->chips.ex[from < to ? to : from];
	pthread_mutex_lock(&a->ctl_lock);
	pthread_mutex_lock(&b->ctl_lock);
	ret = sx_lane_ctl(&w->chips.ex[from], MB_OP_PEERPING, bytes, ((uint64_t)to << 32) | reps,
			  ns, msg, sizeof(msg));
	pthread_mutex_unlock(&b->ctl_lock);
	pthread_mutex_unlock(&a->ctl_lock);
	if (ret)
		return werr(w, ret, "node_ping_pair: %s", msg);
	return 0;
}

SIMPLER_API int simpler_node_ping(struct simpler_worker *w, int node, size_t bytes,
				  uint32_t reps, uint64_t *ns)
{
	struct exec *ex;
	char msg[MB_MSG];
	int ret;

	if (!w)
		return werr(NULL, -EINVAL, "node_ping: NULL worker");
	if (!node_remote(w, node))
		return werr(w, -EINVAL, "node_ping: node %d is not a remote node of this worker",
			    node);
	if (!ns || bytes > (1ULL << 32))
		return werr(w, -EINVAL, "node_ping: NULL ns, or more than 4 GiB a message");
	ex = &w->chips.ex[node];
	pthread_mutex_lock(&ex->ctl_lock);
	ret = sx_lane_ctl(ex, MB_OP_PINGPONG, bytes, reps, ns, msg, sizeof(msg));
	pthread_mutex_unlock(&ex->ctl_lock);
	if (ret)
		return werr(w, ret, "node_ping: %s", msg);
	return 0;
}
