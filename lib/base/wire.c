// SPDX-License-Identifier: MIT
/*
 * The L4's wire frames (wire.h): encoding and a decoder that trusts
 * nothing.  Every field is read and written byte by byte, little-endian,
 * through a cursor that cannot run past its buffer; a decode fails at the
 * first rule broken and says which.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tensor.h"
#include "wire.h"

static const char *const type_names[WIRE_TYPE_END] = {
	[WIRE_HELLO] = "HELLO", [WIRE_VERDICT] = "VERDICT", [WIRE_CALLABLE] = "CALLABLE",
	[WIRE_TASK] = "TASK", [WIRE_DONE] = "DONE", [WIRE_CTRL] = "CTRL",
	[WIRE_CTRL_REPLY] = "CTRL_REPLY", [WIRE_SEND] = "SEND", [WIRE_HEARTBEAT] = "HEARTBEAT",
	[WIRE_SHUTDOWN] = "SHUTDOWN",
};

const char *sx_wire_type_name(unsigned type, char *buf, size_t len)
{
	if (type && type < WIRE_TYPE_END)
		return type_names[type];
	snprintf(buf, len, "type %u", type);
	return buf;
}

/* ---- the cursor ---- */

struct cur {
	uint8_t *p;		/* encoding */
	const uint8_t *q;	/* decoding */
	size_t off, cap;
	bool bad;		/* ran past the end */
};

static uint8_t *room(struct cur *c, size_t n)
{
	uint8_t *r;

	if (c->bad || c->cap - c->off < n) {
		c->bad = true;
		return NULL;
	}
	r = c->p + c->off;
	c->off += n;
	return r;
}

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *r;

	if (c->bad || c->cap - c->off < n) {
		c->bad = true;
		return NULL;
	}
	r = c->q + c->off;
	c->off += n;
	return r;
}

static void put_le(struct cur *c, uint64_t v, unsigned n)
{
	uint8_t *p = room(c, n);
	unsigned i;

	for (i = 0; p && i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(struct cur *c, unsigned n)
{
	const uint8_t *p = take(c, n);
	uint64_t v = 0;
	unsigned i;

	for (i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define put8(c, v)  put_le(c, v, 1)
#define put16(c, v) put_le(c, v, 2)
#define put32(c, v) put_le(c, (uint32_t)(v), 4)
#define put64(c, v) put_le(c, v, 8)
#define get8(c)  ((uint8_t)get_le(c, 1))
#define get16(c) ((uint16_t)get_le(c, 2))
#define get32(c) ((uint32_t)get_le(c, 4))
#define get64(c) get_le(c, 8)

static void put_bytes(struct cur *c, const void *s, size_t n)
{
	uint8_t *p = room(c, n);

	if (p && n)
		memcpy(p, s, n);
}

static void get_bytes(struct cur *c, void *d, size_t n)
{
	const uint8_t *p = take(c, n);

	if (p && n)
		memcpy(d, p, n);
}

/* a NUL-padded string field of n bytes */
static void put_field(struct cur *c, const char *s, size_t n)
{
	uint8_t *p = room(c, n);

	if (p) {
		memset(p, 0, n);
		memcpy(p, s, strnlen(s, n - 1));
	}
}

/* ---- decoding rules ---- */

#define BAD(...) (snprintf(err, errlen, __VA_ARGS__), -EBADMSG)

/*
 * A NUL-padded field: one NUL at least, and only NULs after the first (no
 * stale bytes ride along).
 */
static int get_field(struct cur *c, char *d, size_t n, const char *what, char *err, size_t errlen)
{
	const uint8_t *p = take(c, n);
	size_t len, i;

	if (!p)
		return 0;	/* the caller's length check reports it */
	len = strnlen((const char *)p, n);
	if (len == n)
		return BAD("%s is not NUL terminated within its %zu bytes", what, n);
	for (i = len; i < n; i++)
		if (p[i])
			return BAD("%s has non-zero bytes after its end (byte %zu)", what, i);
	memcpy(d, p, len + 1);
	return 0;
}

/* a message: u32 length (<= max) and the bytes, no NUL among them */
static int get_msg(struct cur *c, char *d, size_t max, const char *what, char *err, size_t errlen)
{
	uint32_t n = get32(c);
	const uint8_t *p;

	if (c->bad)
		return 0;
	if (n > max)
		return BAD("%s length %u exceeds %zu", what, n, max);
	p = take(c, n);
	if (!p)
		return 0;
	if (memchr(p, 0, n))
		return BAD("%s holds a NUL byte", what);
	memcpy(d, p, n);
	d[n] = 0;
	return 0;
}

static void put_msg(struct cur *c, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	put32(c, n);
	put_bytes(c, s, n);
}

static int zero32(struct cur *c, const char *what, char *err, size_t errlen)
{
	uint32_t v = get32(c);

	if (v)
		return BAD("%s is 0x%x: reserved, must be 0", what, v);
	return 0;
}

/* ---- tensors ---- */

static void put_tensor(struct cur *c, const struct simpler_tensor *t)
{
	unsigned d;

	put64(c, t->addr);
	for (d = 0; d < SIMPLER_MAX_DIMS; d++)
		put32(c, t->shape[d]);
	put32(c, t->ndims);
	put8(c, t->dtype);
	put8(c, t->child_memory);
	put_bytes(c, t->reserved, sizeof(t->reserved));
}

static void get_tensor(struct cur *c, struct simpler_tensor *t)
{
	unsigned d;

	t->addr = get64(c);
	for (d = 0; d < SIMPLER_MAX_DIMS; d++)
		t->shape[d] = get32(c);
	t->ndims = get32(c);
	t->dtype = get8(c);
	t->child_memory = get8(c);
	get_bytes(c, t->reserved, sizeof(t->reserved));
}

uint64_t sx_wire_span(const struct wire_task *t, uint32_t i)
{
	return sx_arg_span(&t->tensors[i], t->has_views ? sx_strides_at(
					   (const uint64_t (*)[SIMPLER_MAX_DIMS])t->strides, i) :
							  NULL);
}

/* tensor i of a task as the node will use it: valid, and its offset range no overflow */
static int tensor_rules(const struct wire_task *t, uint32_t i, char *err, size_t errlen)
{
	const struct simpler_tensor *x = &t->tensors[i];
	char why[128];
	uint64_t span;
	unsigned k;

	if (x->child_memory)
		return BAD("tensor %u: child_memory is %u: on the wire every tensor is an "
			   "offset into the node's arena", i, x->child_memory);
	for (k = 0; k < sizeof(x->reserved); k++)
		if (x->reserved[k])
			return BAD("tensor %u: reserved byte %u is 0x%02x, must be 0", i, k,
				   x->reserved[k]);
	if (t->acc[i] > SIMPLER_NO_DEP)
		return BAD("tensor %u: access %u is unknown", i, t->acc[i]);
	if (t->io[i] & ~(WIRE_IO_IN | WIRE_IO_OUT | WIRE_IO_REPLICA))
		return BAD("tensor %u: io bits 0x%x are unknown", i, t->io[i]);
	if ((t->io[i] & WIRE_IO_REPLICA) && t->io[i] != WIRE_IO_REPLICA)
		return BAD("tensor %u: io bits 0x%x: a replica is neither staged in nor out", i,
			   t->io[i]);
	if (t->has_views && t->strides[i][0]) {
		struct simpler_view v = { .t = *x };

		memcpy(v.strides, t->strides[i], sizeof(v.strides));
		if (sx_view_check(&v, why, sizeof(why)))
			return BAD("tensor %u: %s", i, why);
	} else {
		if (t->has_views)
			for (k = 1; k < SIMPLER_MAX_DIMS; k++)
				if (t->strides[i][k])
					return BAD("tensor %u: a plain tensor's strides must be "
						   "0 (stride %u is %" PRIu64 ")", i, k,
						   t->strides[i][k]);
		if (sx_tensor_check(x, why, sizeof(why)))
			return BAD("tensor %u: %s", i, why);
	}
	span = sx_wire_span(t, i);
	/* an empty tensor moves nothing: rank 0 stages and transfers none */
	if (!span && t->io[i])
		return BAD("tensor %u is empty, yet its io bits 0x%x move bytes", i, t->io[i]);
	if (x->addr + span < x->addr)
		return BAD("tensor %u: offset 0x%" PRIx64 " plus %" PRIu64 " bytes overflows", i,
			   x->addr, span);
	return 0;
}

/* ---- frames ---- */

static int task_rules(const struct wire_task *t, char *err, size_t errlen)
{
	uint32_t i;
	int ret;

	if (t->nr_tensors > SIMPLER_MAX_TENSORS || t->nr_scalars > SIMPLER_MAX_SCALARS ||
	    t->nr_recvs > SIMPLER_MAX_TENSORS)
		return BAD("a task with %u tensors, %u scalars and %u transfers: at most %d, %d "
			   "and %d", t->nr_tensors, t->nr_scalars, t->nr_recvs,
			   SIMPLER_MAX_TENSORS, SIMPLER_MAX_SCALARS, SIMPLER_MAX_TENSORS);
	for (i = 0; i < t->nr_tensors; i++) {
		ret = tensor_rules(t, i, err, errlen);
		if (ret)
			return ret;
	}
	if (t->nr_after > WIRE_AFTER_MAX)
		return BAD("a task waiting for %u earlier tasks: at most %d", t->nr_after,
			   WIRE_AFTER_MAX);
	for (i = 0; i < t->nr_after; i++)
		if (!t->after[i] || t->after[i] >= t->ticket)
			return BAD("wait %u: ticket %" PRIu64 " is not an earlier task's (this one "
				   "is %" PRIu64 ")", i, t->after[i], t->ticket);
	for (i = 0; i < t->nr_recvs; i++) {
		if (!t->recvs[i].len || t->recvs[i].off + t->recvs[i].len < t->recvs[i].off)
			return BAD("transfer %u: %" PRIu64 " bytes at 0x%" PRIx64 " is empty or "
				   "overflows", i, t->recvs[i].len, t->recvs[i].off);
		if (!t->recvs[i].src || t->recvs[i].tag < WIRE_XFER_TAG ||
		    t->recvs[i].tag > INT32_MAX)
			return BAD("transfer %u: from rank %u on tag %u: a transfer comes from a "
				   "node rank (not 0) on a tag from %d to %d", i, t->recvs[i].src,
				   t->recvs[i].tag, WIRE_XFER_TAG, INT32_MAX);
	}
	return 0;
}

static void encode_body(struct cur *c, const struct wire_frame *f)
{
	const struct wire_task *t = &f->u.task;
	uint32_t i;

	switch (f->h.type) {
	case WIRE_HELLO:
		put32(c, f->u.hello.lib_version);
		put32(c, f->u.hello.err);
		put32(c, f->u.hello.pid);
		put32(c, f->u.hello.nr_chips);
		put32(c, f->u.hello.nr_subs);
		put32(c, f->u.hello.build_id_len);
		put64(c, f->u.hello.arena);
		put_bytes(c, f->u.hello.build_id, WIRE_BUILD_ID);
		put_field(c, f->u.hello.host, WIRE_HOST);
		put_msg(c, f->u.hello.msg, WIRE_MSG_MAX);
		break;
	case WIRE_VERDICT:
		put32(c, f->u.verdict.err);
		put32(c, f->u.verdict.node);
		put32(c, f->u.verdict.heartbeat_ms);
		put32(c, f->u.verdict.timeout_ms);
		put_msg(c, f->u.verdict.msg, WIRE_MSG_MAX);
		break;
	case WIRE_CALLABLE:
		put32(c, f->u.callable.id);
		put32(c, f->u.callable.kind);
		put64(c, f->u.callable.offset);
		put_field(c, f->u.callable.name, WIRE_NAME);
		put_msg(c, f->u.callable.obj, WIRE_OBJ_MAX);
		break;
	case WIRE_TASK:
		put64(c, t->task_seq);
		put64(c, t->ticket);
		put32(c, t->callable);
		put32(c, t->nr_tensors);
		put32(c, t->nr_scalars);
		put32(c, t->nr_recvs);
		put32(c, (t->has_views ? 1U : 0U) | (t->nr_after ? 2U : 0U));
		put32(c, 0);
		for (i = 0; i < t->nr_tensors; i++) {
			put_tensor(c, &t->tensors[i]);
			put8(c, t->acc[i]);
			put8(c, t->io[i]);
			put_bytes(c, "\0\0\0\0\0\0", 6);
		}
		for (i = 0; t->has_views && i < t->nr_tensors; i++)
			for (unsigned d = 0; d < SIMPLER_MAX_DIMS; d++)
				put64(c, t->strides[i][d]);
		for (i = 0; i < t->nr_scalars; i++)
			put64(c, t->scalars[i]);
		for (i = 0; i < t->nr_recvs; i++) {
			put32(c, t->recvs[i].src);
			put32(c, t->recvs[i].tag);
			put64(c, t->recvs[i].off);
			put64(c, t->recvs[i].len);
		}
		if (t->nr_after) {
			put32(c, t->nr_after);
			put32(c, 0);
			for (i = 0; i < t->nr_after; i++)
				put64(c, t->after[i]);
		}
		break;
	case WIRE_DONE:
		put64(c, f->u.done.ticket);
		put32(c, f->u.done.err);
		put32(c, f->u.done.nr_out);
		put_msg(c, f->u.done.msg, WIRE_MSG_MAX);
		break;
	case WIRE_CTRL:
		put32(c, f->u.ctrl.op);
		put32(c, 0);
		put64(c, f->u.ctrl.ticket);
		put64(c, f->u.ctrl.off);
		put64(c, f->u.ctrl.len);
		break;
	case WIRE_CTRL_REPLY:
		put64(c, f->u.reply.ticket);
		put32(c, f->u.reply.op);
		put32(c, f->u.reply.err);
		put64(c, f->u.reply.value);
		put_msg(c, f->u.reply.msg, WIRE_MSG_MAX);
		break;
	case WIRE_SEND:
		put32(c, f->u.send.dst);
		put32(c, f->u.send.tag);
		put64(c, f->u.send.off);
		put64(c, f->u.send.len);
		break;
	default:	/* HEARTBEAT, SHUTDOWN: no body */
		break;
	}
}

int sx_wire_encode(const struct wire_frame *f, void *buf, size_t cap, char *err, size_t errlen)
{
	struct cur c = { .p = buf, .cap = cap };
	size_t body;
	int ret;

	if (!f->h.type || f->h.type >= WIRE_TYPE_END) {
		snprintf(err, errlen, "cannot encode a frame of unknown type %u", f->h.type);
		return -EINVAL;
	}
	if (f->h.type == WIRE_TASK) {
		ret = task_rules(&f->u.task, err, errlen);
		if (ret)
			return -EINVAL;
	}
	if (f->h.type == WIRE_HELLO && f->u.hello.build_id_len > WIRE_BUILD_ID) {
		snprintf(err, errlen, "a build-id of %u bytes: at most %d", f->u.hello.build_id_len,
			 WIRE_BUILD_ID);
		return -EINVAL;
	}
	put_bytes(&c, "SMPL", 4);
	put16(&c, WIRE_VERSION);
	put16(&c, f->h.type);
	put32(&c, 0);		/* the length, below */
	put32(&c, f->h.rank);
	put64(&c, f->h.seq);
	put32(&c, 0);
	put32(&c, 0);
	encode_body(&c, f);
	if (c.bad) {
		snprintf(err, errlen, "a %s frame does not fit in %zu bytes",
			 type_names[f->h.type], cap);
		return -EMSGSIZE;
	}
	body = c.off - WIRE_HDR;
	c.off = 8;
	put32(&c, body);
	return (int)(body + WIRE_HDR);
}

/*
 * The decoded body's struct: zeroed before decoding, so no field is left
 * stale.  A task's (about 30 KiB) up to its arrays: decode_task() writes
 * each array up to its count, and nothing reads past a count.
 */
static size_t body_size(unsigned type)
{
	struct wire_frame *f = NULL;

	switch (type) {
	case WIRE_HELLO:
		return sizeof(f->u.hello);
	case WIRE_VERDICT:
		return sizeof(f->u.verdict);
	case WIRE_CALLABLE:
		return sizeof(f->u.callable);
	case WIRE_TASK:
		return offsetof(struct wire_task, tensors);
	case WIRE_DONE:
		return sizeof(f->u.done);
	case WIRE_CTRL:
		return sizeof(f->u.ctrl);
	case WIRE_CTRL_REPLY:
		return sizeof(f->u.reply);
	case WIRE_SEND:
		return sizeof(f->u.send);
	default:
		return 0;
	}
}

void sx_wire_task_copy(struct wire_task *d, const struct wire_task *s)
{
	uint32_t nt = s->nr_tensors;

	memcpy(d, s, offsetof(struct wire_task, tensors));
	memcpy(d->tensors, s->tensors, nt * sizeof(s->tensors[0]));
	memcpy(d->acc, s->acc, nt);
	memcpy(d->io, s->io, nt);
	if (s->has_views)
		memcpy(d->strides, s->strides, nt * sizeof(s->strides[0]));
	memcpy(d->scalars, s->scalars, s->nr_scalars * sizeof(s->scalars[0]));
	memcpy(d->recvs, s->recvs, s->nr_recvs * sizeof(s->recvs[0]));
	d->nr_after = s->nr_after;
	memcpy(d->after, s->after, s->nr_after * sizeof(s->after[0]));
}

static int decode_task(struct cur *c, struct wire_task *t, char *err, size_t errlen)
{
	uint32_t i, flags;
	int ret;

	t->task_seq = get64(c);
	t->ticket = get64(c);
	t->callable = get32(c);
	t->nr_tensors = get32(c);
	t->nr_scalars = get32(c);
	t->nr_recvs = get32(c);
	flags = get32(c);
	if (c->bad)
		return 0;
	if (flags & ~3U)
		return BAD("task flags 0x%x are unknown", flags);
	t->has_views = flags & 1;
	ret = zero32(c, "the task's reserved word", err, errlen);
	if (ret)
		return ret;
	/* counts first: nothing is read past a count the decoder did not accept */
	if (t->nr_tensors > SIMPLER_MAX_TENSORS || t->nr_scalars > SIMPLER_MAX_SCALARS ||
	    t->nr_recvs > SIMPLER_MAX_TENSORS)
		return task_rules(t, err, errlen);
	for (i = 0; i < t->nr_tensors && !c->bad; i++) {
		uint8_t pad[6];

		get_tensor(c, &t->tensors[i]);
		t->acc[i] = get8(c);
		t->io[i] = get8(c);
		get_bytes(c, pad, sizeof(pad));
		for (unsigned k = 0; k < sizeof(pad) && !c->bad; k++)
			if (pad[k])
				return BAD("tensor %u: padding byte %u is 0x%02x, must be 0", i, k,
					   pad[k]);
	}
	for (i = 0; i < t->nr_tensors && !c->bad; i++)
		for (unsigned d = 0; d < SIMPLER_MAX_DIMS; d++)
			t->strides[i][d] = t->has_views ? get64(c) : 0;
	for (i = 0; i < t->nr_scalars; i++)
		t->scalars[i] = get64(c);
	for (i = 0; i < t->nr_recvs; i++) {
		t->recvs[i].src = get32(c);
		t->recvs[i].tag = get32(c);
		t->recvs[i].off = get64(c);
		t->recvs[i].len = get64(c);
	}
	t->nr_after = 0;
	if (flags & 2) {
		t->nr_after = get32(c);
		ret = zero32(c, "the reserved word of the task's waits", err, errlen);
		if (ret)
			return ret;
		if (!c->bad && !t->nr_after)
			return BAD("the task says it waits for earlier tasks, and names none");
		if (!c->bad && t->nr_after > WIRE_AFTER_MAX)
			return task_rules(t, err, errlen);
		for (i = 0; i < t->nr_after && !c->bad; i++)
			t->after[i] = get64(c);
	}
	if (c->bad)
		return 0;
	return task_rules(t, err, errlen);
}

static int decode_body(struct cur *c, struct wire_frame *f, char *err, size_t errlen)
{
	int ret = 0;

	switch (f->h.type) {
	case WIRE_HELLO:
		f->u.hello.lib_version = get32(c);
		f->u.hello.err = (int32_t)get32(c);
		f->u.hello.pid = get32(c);
		f->u.hello.nr_chips = get32(c);
		f->u.hello.nr_subs = get32(c);
		f->u.hello.build_id_len = get32(c);
		f->u.hello.arena = get64(c);
		get_bytes(c, f->u.hello.build_id, WIRE_BUILD_ID);
		if (!c->bad && f->u.hello.build_id_len > WIRE_BUILD_ID)
			return BAD("a build-id of %u bytes: at most %d", f->u.hello.build_id_len,
				   WIRE_BUILD_ID);
		for (unsigned k = f->u.hello.build_id_len; !c->bad && k < WIRE_BUILD_ID; k++)
			if (f->u.hello.build_id[k])
				return BAD("build-id byte %u past its length is not 0", k);
		ret = get_field(c, f->u.hello.host, WIRE_HOST, "the host name", err, errlen);
		if (!ret)
			ret = get_msg(c, f->u.hello.msg, WIRE_MSG_MAX, "the message", err, errlen);
		if (!ret && !c->bad && f->u.hello.err > 0)
			return BAD("HELLO error %d is positive", f->u.hello.err);
		break;
	case WIRE_VERDICT:
		f->u.verdict.err = (int32_t)get32(c);
		f->u.verdict.node = get32(c);
		f->u.verdict.heartbeat_ms = get32(c);
		f->u.verdict.timeout_ms = get32(c);
		ret = get_msg(c, f->u.verdict.msg, WIRE_MSG_MAX, "the message", err, errlen);
		if (!ret && !c->bad && (f->u.verdict.err > 0 || !f->u.verdict.heartbeat_ms ||
					f->u.verdict.timeout_ms <= f->u.verdict.heartbeat_ms))
			return BAD("VERDICT error %d, heartbeat %u ms, timeout %u ms: the error "
				   "must be 0 or negative and the timeout longer than the beat",
				   f->u.verdict.err, f->u.verdict.heartbeat_ms,
				   f->u.verdict.timeout_ms);
		break;
	case WIRE_CALLABLE:
		f->u.callable.id = get32(c);
		f->u.callable.kind = get32(c);
		f->u.callable.offset = get64(c);
		ret = get_field(c, f->u.callable.name, WIRE_NAME, "the callable's name", err,
				errlen);
		if (!ret)
			ret = get_msg(c, f->u.callable.obj, WIRE_OBJ_MAX, "the object path", err,
				      errlen);
		if (!ret && !c->bad && (f->u.callable.kind > 1 || !f->u.callable.name[0]))
			return BAD("callable %u: kind %u, name '%s': the kind must be 0 (kernel) "
				   "or 1 (node fn) and the name not empty", f->u.callable.id,
				   f->u.callable.kind, f->u.callable.name);
		break;
	case WIRE_TASK:
		ret = decode_task(c, &f->u.task, err, errlen);
		break;
	case WIRE_DONE:
		f->u.done.ticket = get64(c);
		f->u.done.err = (int32_t)get32(c);
		f->u.done.nr_out = get32(c);
		ret = get_msg(c, f->u.done.msg, WIRE_MSG_MAX, "the message", err, errlen);
		if (!ret && !c->bad && (f->u.done.err > 0 || f->u.done.nr_out > SIMPLER_MAX_TENSORS))
			return BAD("DONE error %d, %u outputs: the error must be 0 or negative, "
				   "at most %d outputs", f->u.done.err, f->u.done.nr_out,
				   SIMPLER_MAX_TENSORS);
		break;
	case WIRE_CTRL:
		f->u.ctrl.op = get32(c);
		ret = zero32(c, "the CTRL reserved word", err, errlen);
		f->u.ctrl.ticket = get64(c);
		f->u.ctrl.off = get64(c);
		f->u.ctrl.len = get64(c);
		if (!ret && !c->bad && (!f->u.ctrl.op || f->u.ctrl.op >= WIRE_CTRL_END))
			return BAD("CTRL op %u is unknown", f->u.ctrl.op);
		if (!ret && !c->bad && f->u.ctrl.op == WIRE_CTRL_PINGPONG &&
		    (f->u.ctrl.len > WIRE_PING_MAX || f->u.ctrl.off >= WIRE_PING_MAX))
			return BAD("a ping-pong of %" PRIu64 " round trips of %" PRIu64 " bytes: at "
				   "most %llu bytes and %llu round trips", f->u.ctrl.off,
				   f->u.ctrl.len, WIRE_PING_MAX, WIRE_PING_MAX - 1);
		if (!ret && !c->bad && (f->u.ctrl.op == WIRE_CTRL_PEER_PING ||
					f->u.ctrl.op == WIRE_CTRL_PEER_ECHO) &&
		    (f->u.ctrl.len > WIRE_PING_MAX || !(f->u.ctrl.off >> 32) ||
		     f->u.ctrl.off >> 32 > INT32_MAX))
			return BAD("a ping between nodes of %" PRIu64 " round trips of %" PRIu64
				   " bytes with rank %" PRIu64 ": at most %llu bytes, with a node "
				   "rank", f->u.ctrl.off & 0xffffffff, f->u.ctrl.len,
				   f->u.ctrl.off >> 32, WIRE_PING_MAX);
		if (!ret && !c->bad && f->u.ctrl.op != WIRE_CTRL_PINGPONG &&
		    f->u.ctrl.op != WIRE_CTRL_PEER_PING && f->u.ctrl.op != WIRE_CTRL_PEER_ECHO &&
		    f->u.ctrl.off + f->u.ctrl.len < f->u.ctrl.off)
			return BAD("CTRL range 0x%" PRIx64 " + %" PRIu64 " overflows",
				   f->u.ctrl.off, f->u.ctrl.len);
		break;
	case WIRE_CTRL_REPLY:
		f->u.reply.ticket = get64(c);
		f->u.reply.op = get32(c);
		f->u.reply.err = (int32_t)get32(c);
		f->u.reply.value = get64(c);
		ret = get_msg(c, f->u.reply.msg, WIRE_MSG_MAX, "the message", err, errlen);
		if (!ret && !c->bad && (!f->u.reply.op || f->u.reply.op >= WIRE_CTRL_END ||
					f->u.reply.err > 0))
			return BAD("CTRL_REPLY op %u, error %d: unknown op or positive error",
				   f->u.reply.op, f->u.reply.err);
		break;
	case WIRE_SEND:
		f->u.send.dst = get32(c);
		f->u.send.tag = get32(c);
		f->u.send.off = get64(c);
		f->u.send.len = get64(c);
		if (!c->bad && (!f->u.send.len || f->u.send.off + f->u.send.len < f->u.send.off))
			return BAD("SEND of %" PRIu64 " bytes at 0x%" PRIx64 " is empty or "
				   "overflows", f->u.send.len, f->u.send.off);
		if (!c->bad && (!f->u.send.dst || f->u.send.tag < WIRE_XFER_TAG ||
				f->u.send.tag > INT32_MAX))
			return BAD("SEND to rank %u on tag %u: a transfer goes to a node rank (not "
				   "0) on a tag from %d to %d", f->u.send.dst, f->u.send.tag,
				   WIRE_XFER_TAG, INT32_MAX);
		break;
	default:
		break;
	}
	return ret;
}

int sx_wire_decode(const void *buf, size_t len, struct wire_frame *f, char *err, size_t errlen)
{
	struct cur c = { .q = buf, .cap = len };
	char magic[4], tn[16];
	uint16_t version;
	uint32_t flags, body;
	int ret;

	if (len < WIRE_HDR)
		return BAD("a frame of %zu bytes is shorter than its %d-byte header", len, WIRE_HDR);
	if (len > WIRE_MAX_FRAME)
		return BAD("a frame of %zu bytes exceeds the largest, %d", len, WIRE_MAX_FRAME);
	get_bytes(&c, magic, 4);
	if (memcmp(magic, "SMPL", 4)) {
		snprintf(err, errlen, "bad magic 0x%02x%02x%02x%02x (not \"SMPL\"): not a simpler "
			 "frame", (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2],
			 (uint8_t)magic[3]);
		return -EPROTO;
	}
	version = get16(&c);
	if (version != WIRE_VERSION) {
		snprintf(err, errlen, "wire version %u, this library speaks %d: every rank must "
			 "run the same simpler", version, WIRE_VERSION);
		return -EPROTO;
	}
	memset(&f->h, 0, sizeof(f->h));
	f->h.version = version;
	f->h.type = get16(&c);
	body = get32(&c);
	f->h.rank = get32(&c);
	f->h.seq = get64(&c);
	flags = get32(&c);
	if (!f->h.type || f->h.type >= WIRE_TYPE_END)
		return BAD("frame %s is unknown", sx_wire_type_name(f->h.type, tn, sizeof(tn)));
	if (body != len - WIRE_HDR)
		return BAD("a %s frame says %u body bytes but %zu arrived", type_names[f->h.type],
			   body, len - WIRE_HDR);
	if (flags)
		return BAD("header flags 0x%x are unknown", flags);
	ret = zero32(&c, "the header's reserved word", err, errlen);
	if (ret)
		return ret;
	f->h.len = body;
	memset(&f->u, 0, body_size(f->h.type));
	ret = decode_body(&c, f, err, errlen);
	if (ret)
		return ret;
	if (c.bad)
		return BAD("a %s frame of %u body bytes is truncated", type_names[f->h.type], body);
	if (c.off != len)
		return BAD("a %s frame has %zu bytes past its end", type_names[f->h.type],
			   len - c.off);
	return 0;
}

int sx_wire_seq_check(uint64_t *expect, uint64_t got, char *err, size_t errlen)
{
	if (got != *expect)
		return BAD("frame number %" PRIu64 " where %" PRIu64 " was due (%s)", got, *expect,
			   got < *expect ? "a repeat" : "frames were lost");
	(*expect)++;
	return 0;
}
