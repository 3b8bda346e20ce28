/* SPDX-License-Identifier: MIT */
/*
 * The frames an L4 and its remote nodes exchange (over MPI, but nothing
 * here knows that): fixed layouts, little-endian on the wire whatever the
 * host, a version in every header, every length and count bounds-checked,
 * every reserved byte zero.  A frame that breaks any rule does not decode;
 * the session that received it ends with the decoder's message.
 *
 * No pointer crosses: a tensor's addr on the wire is an offset into the
 * receiving node's arena (its staging and node memory), checked against
 * the arena there.  Bulk bytes (staged tensors, copies, transfers) travel
 * beside the frames as plain messages whose sizes the frames announce.
 *
 * Header, 32 bytes:
 *   0 magic "SMPL"   4 u16 version   6 u16 type   8 u32 body length
 *  12 u32 sender's rank   16 u64 sequence (1, 2, ... per link and direction)
 *  24 u32 flags (0)  28 u32 reserved (0)
 */
#ifndef SIMPLER_BASE_WIRE_H
#define SIMPLER_BASE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simpler.h"

#define WIRE_VERSION	1
#define WIRE_HDR	32
#define WIRE_MSG_MAX	1024		/* messages: bytes, no NUL on the wire */
#define WIRE_NAME	64		/* a callable's name field (NUL padded) */
#define WIRE_OBJ_MAX	256		/* a callable's object path */
#define WIRE_HOST	64		/* a host name field (NUL padded) */
#define WIRE_BUILD_ID	32		/* build-id bytes, at most */
#define WIRE_TENSOR	48		/* a tensor entry: the 40-byte tensor, access, io */
#define WIRE_RECV	24		/* a transfer to receive before a task runs */
#define WIRE_AFTER_MAX	8		/* earlier tasks of the same node a task waits for */
/* the largest frame: a task with every tensor a view and a receive for each */
#define WIRE_MAX_FRAME	(WIRE_HDR + 48 + SIMPLER_MAX_TENSORS * (WIRE_TENSOR + 40 + WIRE_RECV) + \
			 SIMPLER_MAX_SCALARS * 8 + 8 + WIRE_AFTER_MAX * 8)

enum wire_type {
	WIRE_HELLO = 1,		/* node -> L4: who it is, its build, whether its L3 started */
	WIRE_VERDICT,		/* L4 -> node: go (err 0) or the reason every rank fails */
	WIRE_CALLABLE,		/* L4 -> node: callable id is name, at offset in object */
	WIRE_TASK,		/* L4 -> node: run a node fn; staged bytes follow */
	WIRE_DONE,		/* node -> L4: a task's result; written bytes follow */
	WIRE_CTRL,		/* L4 -> node: copy to/from node memory, discard, ping-pong */
	WIRE_CTRL_REPLY,	/* node -> L4: its result; copied bytes follow */
	WIRE_SEND,		/* L4 -> node: send a range of your arena to a rank */
	WIRE_HEARTBEAT,		/* either way: alive (any frame says so too) */
	WIRE_SHUTDOWN,		/* L4 -> node: stop serving */
	WIRE_TYPE_END
};

/* node-to-node transfers use MPI tags from here up (below: frames, staged bytes, pings) */
#define WIRE_XFER_TAG	16
/* a ping-pong: at most this many bytes a message, and 2^32 - 1 round trips */
#define WIRE_PING_MAX	(1ULL << 32)

/* io bits of a task's tensor */
#define WIRE_IO_IN	(1U << 0)	/* its span follows the frame (staged in) */
#define WIRE_IO_OUT	(1U << 1)	/* its span comes back after the task (staged out) */
#define WIRE_IO_REPLICA	(1U << 2)	/* a copy of another node's memory (alone: read only) */

/* ops of WIRE_CTRL */
enum wire_ctrl_op {
	WIRE_CTRL_COPY_TO = 1,	/* len bytes follow; store them at off */
	WIRE_CTRL_COPY_FROM,	/* reply, then send len bytes from off */
	WIRE_CTRL_DISCARD,	/* [off, off + len) is free: give its pages back (no reply) */
	WIRE_CTRL_PINGPONG,	/* len bytes, ticket round trips: the transport's floor */
	WIRE_CTRL_CANCEL,	/* drop sends to rank off on tag len; len 0: rank off is
				   lost, drop every send to it and receive from it (no reply) */
	WIRE_CTRL_PEER_PING,	/* (off & 0xffffffff) round trips of len bytes with rank
				   off >> 32, this rank sending first; reply value = ns */
	WIRE_CTRL_PEER_ECHO,	/* the other end of a PEER_PING: echo them (no reply) */
	WIRE_CTRL_END
};

struct wire_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t len;		/* body bytes after the header */
	uint32_t rank;		/* the sender's */
	uint64_t seq;
};

struct wire_hello {
	uint32_t lib_version;	/* SIMPLER_VERSION of the sender's library */
	int32_t err;		/* 0: its L3 worker is ready; else why not (msg) */
	uint32_t pid, nr_chips, nr_subs;
	uint32_t build_id_len;	/* 0..WIRE_BUILD_ID */
	uint64_t arena;		/* bytes of its arena */
	uint8_t build_id[WIRE_BUILD_ID];	/* the program's GNU build-id */
	char host[WIRE_HOST];	/* NUL terminated */
	char msg[WIRE_MSG_MAX + 1];
};

struct wire_verdict {
	int32_t err;		/* 0: go */
	uint32_t node;		/* the node index the L4 gave this rank */
	uint32_t heartbeat_ms, timeout_ms;
	char msg[WIRE_MSG_MAX + 1];
};

struct wire_callable {
	uint32_t id, kind;	/* kind: enum callable_kind */
	uint64_t offset;	/* the function's offset in its object */
	char name[WIRE_NAME];	/* NUL terminated */
	char obj[WIRE_OBJ_MAX + 1];	/* "" for the program itself */
};

struct wire_recv {
	uint32_t src, tag;	/* the rank sending it, its message tag */
	uint64_t off, len;	/* where it lands in the receiver's arena */
};

struct wire_task {
	uint64_t task_seq;	/* the L4 task's number in its run (for messages) */
	uint64_t ticket;	/* names the task in its DONE */
	uint32_t callable, nr_tensors, nr_scalars, nr_recvs;
	bool has_views;
	/* tensors[i].addr: an offset into the node's arena; child_memory 0 */
	struct simpler_tensor tensors[SIMPLER_MAX_TENSORS];
	uint8_t acc[SIMPLER_MAX_TENSORS];	/* enum simpler_access */
	uint8_t io[SIMPLER_MAX_TENSORS];	/* WIRE_IO_* */
	uint64_t strides[SIMPLER_MAX_TENSORS][SIMPLER_MAX_DIMS];	/* has_views; [0] 0: plain */
	uint64_t scalars[SIMPLER_MAX_SCALARS];
	struct wire_recv recvs[SIMPLER_MAX_TENSORS];
	/*
	 * Tickets of tasks sent to this node before it that it depends on
	 * (rank 0 sent it ahead of their results): it runs only if each of
	 * them succeeded, else it fails without running.
	 */
	uint32_t nr_after;
	uint64_t after[WIRE_AFTER_MAX];
};

struct wire_done {
	uint64_t ticket;
	int32_t err;
	uint32_t nr_out;	/* messages of written bytes that follow, in tensor order */
	char msg[WIRE_MSG_MAX + 1];
};

struct wire_ctrl {
	uint32_t op;		/* enum wire_ctrl_op */
	uint64_t ticket, off, len;
};

struct wire_ctrl_reply {
	uint64_t ticket;
	uint32_t op;
	int32_t err;
	uint64_t value;		/* PEER_PING: the round trips' ns; else 0 */
	char msg[WIRE_MSG_MAX + 1];
};

struct wire_send {
	uint32_t dst, tag;
	uint64_t off, len;
};

/* a decoded frame (a task makes it about 30 KiB: keep it off small stacks) */
struct wire_frame {
	struct wire_hdr h;
	union {
		struct wire_hello hello;
		struct wire_verdict verdict;
		struct wire_callable callable;
		struct wire_task task;
		struct wire_done done;
		struct wire_ctrl ctrl;
		struct wire_ctrl_reply reply;
		struct wire_send send;
	} u;
};

/* "TASK", "DONE", ... or "type 99" (buf holds the latter) */
const char *sx_wire_type_name(unsigned type, char *buf, size_t len);

/*
 * Encode f (header fields version and len are filled in here) into buf of
 * cap bytes: the frame's length, or -EMSGSIZE if it does not fit, -EINVAL
 * if f breaks a rule the decoder checks (counts, strings, tensors), with
 * the reason in err.
 */
int sx_wire_encode(const struct wire_frame *f, void *buf, size_t cap, char *err, size_t errlen);

/*
 * Decode the len bytes at buf into f: 0, or -EPROTO (not our protocol:
 * magic, version) or -EBADMSG (a length, count, string, tensor, unknown type
 * or a reserved byte that is not zero) with the reason in err.
 */
int sx_wire_decode(const void *buf, size_t len, struct wire_frame *f, char *err, size_t errlen);

/*
 * A link's sequence numbers: the next frame must carry *expect (then it
 * advances).  0, or -EBADMSG naming a repeated or skipped number.
 */
int sx_wire_seq_check(uint64_t *expect, uint64_t got, char *err, size_t errlen);

/* bytes a task's tensor i spans (its view's span, or its size) */
/* a decoded task, its arrays up to their counts (the rest of d is left as it was) */
void sx_wire_task_copy(struct wire_task *d, const struct wire_task *s);
uint64_t sx_wire_span(const struct wire_task *t, uint32_t i);

#endif /* SIMPLER_BASE_WIRE_H */
