// SPDX-License-Identifier: MIT
/*
 * The L4's wire frames (lib/base/wire.c), without MPI: every frame type
 * survives a round trip, the header's bytes are little-endian where the
 * layout says, and the decoder refuses bad magic, versions, lengths,
 * counts, strings, tensors and non-zero reserved bytes, and never reads
 * past a frame however it is mangled.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"
#include "harness.h"

static struct wire_frame *frame_new(unsigned type)
{
	struct wire_frame *f = calloc(1, sizeof(*f));

	if (!f)
		FAILF("out of memory");
	f->h.type = (uint16_t)type;
	f->h.rank = 2;
	f->h.seq = 41;
	return f;
}

static uint8_t buf[WIRE_MAX_FRAME + 64];
static char err[256];

static int enc(const struct wire_frame *f)
{
	int n = sx_wire_encode(f, buf, sizeof(buf), err, sizeof(err));

	CHECK_MSG(n >= WIRE_HDR, "encode: %d: %s", n, err);
	return n;
}

/* decode n bytes of buf: the decoder's return, its message in err */
static int dec(size_t n, struct wire_frame *out)
{
	err[0] = 0;
	return sx_wire_decode(buf, n, out, err, sizeof(err));
}

/* a task with nt tensors (every third a view), ns scalars and nr transfers */
static struct wire_frame *task_frame(uint32_t nt, uint32_t ns, uint32_t nr)
{
	struct wire_frame *f = frame_new(WIRE_TASK);
	struct wire_task *t = &f->u.task;
	uint32_t i;

	t->task_seq = 7;
	t->ticket = 0x1122334455667788ULL;
	t->callable = 3;
	t->nr_tensors = nt;
	t->nr_scalars = ns;
	t->nr_recvs = nr;
	t->has_views = true;
	for (i = 0; i < nt; i++) {
		struct simpler_tensor *x = &t->tensors[i];

		x->addr = 4096ULL * i + i;
		x->ndims = 2;
		x->shape[0] = 3 + i % 5;
		x->shape[1] = 4;
		x->dtype = SIMPLER_F32;
		t->acc[i] = (uint8_t)(i % 5);
		t->io[i] = (uint8_t)(i % 4);
		if (i % 3 == 0) {
			t->strides[i][0] = 64;	/* rows 64 elements apart: a tile */
			t->strides[i][1] = 1;
		}
	}
	for (i = 0; i < ns; i++)
		t->scalars[i] = 0xA5A5000000000000ULL + i;
	for (i = 0; i < nr; i++)
		t->recvs[i] = (struct wire_recv){ 1 + i % 3, 1000 + i, 65536ULL * i, 100 + i };
	return f;
}

TEST(wire_round_trips_a_task_with_256_tensors_128_scalars_256_transfers)
{
	struct wire_frame *f = task_frame(SIMPLER_MAX_TENSORS, SIMPLER_MAX_SCALARS,
					  SIMPLER_MAX_TENSORS);
	struct wire_frame *g = frame_new(0);
	int n = enc(f), ret;
	uint32_t i;

	CHECK(n <= WIRE_MAX_FRAME);
	ret = dec((size_t)n, g);
	CHECK_MSG(ret == 0, "%d: %s", ret, err);
	CHECK_EQ(g->h.type, WIRE_TASK);
	CHECK_EQ(g->h.rank, 2);
	CHECK_EQ(g->h.seq, 41);
	CHECK_EQ(g->h.len, n - WIRE_HDR);
	CHECK_EQ(g->u.task.ticket, 0x1122334455667788ULL);
	CHECK_EQ(g->u.task.task_seq, 7);
	CHECK_EQ(g->u.task.callable, 3);
	CHECK_EQ(g->u.task.nr_tensors, 256);
	CHECK_EQ(g->u.task.nr_scalars, 128);
	CHECK_EQ(g->u.task.nr_recvs, 256);
	CHECK(g->u.task.has_views);
	for (i = 0; i < 256; i++) {
		CHECK(!memcmp(&g->u.task.tensors[i], &f->u.task.tensors[i],
			      sizeof(struct simpler_tensor)));
		CHECK_EQ(g->u.task.acc[i], i % 5);
		CHECK_EQ(g->u.task.io[i], i % 4);
		CHECK(!memcmp(g->u.task.strides[i], f->u.task.strides[i],
			      sizeof(g->u.task.strides[i])));
		CHECK_EQ(g->u.task.recvs[i].tag, 1000 + i);
		CHECK_EQ(g->u.task.recvs[i].off, 65536ULL * i);
		CHECK_EQ(g->u.task.recvs[i].len, 100 + i);
		CHECK_EQ(g->u.task.recvs[i].src, 1 + i % 3);
	}
	for (i = 0; i < 128; i++)
		CHECK_EQ(g->u.task.scalars[i], 0xA5A5000000000000ULL + i);
	CHECK_EQ(sx_wire_span(&g->u.task, 0), (64 * 2 + 4) * 4);	/* 3 rows of a tile */
	CHECK_EQ(sx_wire_span(&g->u.task, 1), 4 * 4 * 4);		/* 4x4 floats */
	free(f);
	free(g);
}

TEST(wire_round_trips_every_other_type)
{
	struct wire_frame *f, *g = frame_new(0);
	int ret;

	f = frame_new(WIRE_HELLO);
	f->u.hello.lib_version = 0x000100;
	f->u.hello.err = -5;
	f->u.hello.pid = 4242;
	f->u.hello.nr_chips = 2;
	f->u.hello.nr_subs = 1;
	f->u.hello.arena = 1ULL << 34;
	f->u.hello.build_id_len = 20;
	memset(f->u.hello.build_id, 0xab, 20);
	strcpy(f->u.hello.host, "vm-7");
	strcpy(f->u.hello.msg, "cannot start its L3 worker: nope");
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.hello.err, -5);
	CHECK_EQ(g->u.hello.pid, 4242);
	CHECK_EQ(g->u.hello.arena, 1ULL << 34);
	CHECK_EQ(g->u.hello.build_id_len, 20);
	CHECK(!memcmp(g->u.hello.build_id, f->u.hello.build_id, WIRE_BUILD_ID));
	CHECK(!strcmp(g->u.hello.host, "vm-7"));
	CHECK(!strcmp(g->u.hello.msg, f->u.hello.msg));
	free(f);

	f = frame_new(WIRE_VERDICT);
	f->u.verdict.err = -EPROTO;
	f->u.verdict.node = 3;
	f->u.verdict.heartbeat_ms = 100;
	f->u.verdict.timeout_ms = 3000;
	strcpy(f->u.verdict.msg, "rank 2 runs another build");
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.verdict.err, -EPROTO);
	CHECK_EQ(g->u.verdict.node, 3);
	CHECK_EQ(g->u.verdict.timeout_ms, 3000);
	CHECK(!strcmp(g->u.verdict.msg, "rank 2 runs another build"));
	free(f);

	f = frame_new(WIRE_CALLABLE);
	f->u.callable.id = 9;
	f->u.callable.kind = 1;
	f->u.callable.offset = 0x1234;
	strcpy(f->u.callable.name, "step");
	strcpy(f->u.callable.obj, "/usr/lib/libk.so");
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.callable.id, 9);
	CHECK_EQ(g->u.callable.kind, 1);
	CHECK_EQ(g->u.callable.offset, 0x1234);
	CHECK(!strcmp(g->u.callable.name, "step"));
	CHECK(!strcmp(g->u.callable.obj, "/usr/lib/libk.so"));
	free(f);

	f = frame_new(WIRE_DONE);
	f->u.done.ticket = 77;
	f->u.done.err = -22;
	f->u.done.nr_out = 2;
	memset(f->u.done.msg, 'x', WIRE_MSG_MAX);	/* the longest message */
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.done.ticket, 77);
	CHECK_EQ(g->u.done.err, -22);
	CHECK_EQ(g->u.done.nr_out, 2);
	CHECK_EQ(strlen(g->u.done.msg), WIRE_MSG_MAX);
	free(f);

	f = frame_new(WIRE_CTRL);
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_COPY_FROM, 5, 1 << 20, 4096 };
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.ctrl.op, WIRE_CTRL_COPY_FROM);
	CHECK_EQ(g->u.ctrl.ticket, 5);
	CHECK_EQ(g->u.ctrl.off, 1 << 20);
	CHECK_EQ(g->u.ctrl.len, 4096);
	free(f);

	f = frame_new(WIRE_CTRL_REPLY);
	f->u.reply.ticket = 5;
	f->u.reply.op = WIRE_CTRL_COPY_TO;
	f->u.reply.err = -EFAULT;
	f->u.reply.value = 0x0123456789abcdefULL;
	strcpy(f->u.reply.msg, "outside the arena");
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.reply.err, -EFAULT);
	CHECK_EQ(g->u.reply.value, 0x0123456789abcdefULL);
	CHECK(!strcmp(g->u.reply.msg, "outside the arena"));
	free(f);

	f = frame_new(WIRE_SEND);
	f->u.send = (struct wire_send){ 2, 1234, 8192, 16 << 20 };
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->u.send.dst, 2);
	CHECK_EQ(g->u.send.tag, 1234);
	CHECK_EQ(g->u.send.off, 8192);
	CHECK_EQ(g->u.send.len, 16 << 20);
	free(f);

	f = frame_new(WIRE_SHUTDOWN);
	ret = dec((size_t)enc(f), g);
	CHECK_MSG(!ret, "%s", err);
	CHECK_EQ(g->h.type, WIRE_SHUTDOWN);
	CHECK_EQ(g->h.len, 0);
	free(f);
	free(g);
}

TEST(wire_header_is_little_endian_at_fixed_offsets)
{
	static const uint8_t want[WIRE_HDR] = {
		'S', 'M', 'P', 'L', 1, 0, WIRE_HEARTBEAT, 0, 0, 0, 0, 0, 7, 0, 0, 0,
		8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct wire_frame *f = frame_new(WIRE_HEARTBEAT);

	f->h.rank = 7;
	f->h.seq = 0x0102030405060708ULL;
	CHECK_EQ(enc(f), WIRE_HDR);
	CHECK(!memcmp(buf, want, WIRE_HDR));
	/* a SEND body: u32 dst, u32 tag, u64 off, u64 len, in that order */
	f->h.type = WIRE_SEND;
	f->u.send = (struct wire_send){ 0x11223344, 5, 0x0807060504030201ULL, 9 };
	CHECK_EQ(enc(f), WIRE_HDR + 24);
	CHECK_EQ(buf[8], 24);
	CHECK(buf[32] == 0x44 && buf[35] == 0x11 && buf[36] == 5 && buf[40] == 1 && buf[47] == 8 &&
	      buf[48] == 9);
	free(f);
}

/* encode f, let mangle() break the bytes, decode: expect ret and want in the message */
static void refused(const struct wire_frame *f, void (*mangle)(uint8_t *b, int *n), int ret,
		    const char *want)
{
	struct wire_frame *g = frame_new(0);
	int n = enc(f), r;

	mangle(buf, &n);
	r = dec((size_t)n, g);
	CHECK_MSG(r == ret, "decode returned %d, not %d: %s", r, ret, err);
	CHECK_MSG(strstr(err, want), "message '%s' lacks '%s'", err, want);
	free(g);
}

static void bad_magic(uint8_t *b, int *n) { b[0] = 'X'; }
static void bad_version(uint8_t *b, int *n) { b[4] = 2; }
static void bad_type(uint8_t *b, int *n) { b[6] = 99; }
static void bad_len_short(uint8_t *b, int *n) { (*n)--; }
static void bad_len_long(uint8_t *b, int *n) { b[*n] = 0; (*n)++; }
static void bad_len_field(uint8_t *b, int *n) { b[8]++; }
static void bad_hdr_flags(uint8_t *b, int *n) { b[24] = 1; }
static void bad_hdr_reserved(uint8_t *b, int *n) { b[31] = 0x80; }
static void hdr_only(uint8_t *b, int *n) { *n = WIRE_HDR - 1; }

TEST(wire_refuses_bad_magic_version_type_and_lengths)
{
	struct wire_frame *f = task_frame(3, 2, 1);

	refused(f, bad_magic, -EPROTO, "bad magic");
	refused(f, bad_version, -EPROTO, "wire version 2");
	refused(f, bad_type, -EBADMSG, "type 99 is unknown");
	refused(f, bad_len_short, -EBADMSG, "body bytes but");
	refused(f, bad_len_long, -EBADMSG, "body bytes but");
	refused(f, bad_len_field, -EBADMSG, "body bytes but");
	refused(f, hdr_only, -EBADMSG, "shorter than its 32-byte header");
	refused(f, bad_hdr_flags, -EBADMSG, "flags 0x1 are unknown");
	refused(f, bad_hdr_reserved, -EBADMSG, "reserved, must be 0");
	free(f);
}

/* offsets inside a task frame's body: fixed part 40 bytes, then 48 per tensor */
#define TASK_BODY	WIRE_HDR
#define TENSOR0		(TASK_BODY + 40)

static void bad_nt(uint8_t *b, int *n) { b[TASK_BODY + 20] = 1; b[TASK_BODY + 21] = 1; }	/* 257 */
static void bad_ns(uint8_t *b, int *n) { b[TASK_BODY + 24] = 129; }
static void bad_nt_big(uint8_t *b, int *n) { b[TASK_BODY + 23] = 0x80; }
static void bad_task_flags(uint8_t *b, int *n) { b[TASK_BODY + 32] |= 4; }
static void bad_task_reserved(uint8_t *b, int *n) { b[TASK_BODY + 36] = 1; }
static void bad_tensor_reserved(uint8_t *b, int *n) { b[TENSOR0 + 34] = 1; }
static void bad_tensor_pad(uint8_t *b, int *n) { b[TENSOR0 + 47] = 1; }
static void bad_tensor_child(uint8_t *b, int *n) { b[TENSOR0 + 33] = 1; }
static void bad_tensor_ndims(uint8_t *b, int *n) { b[TENSOR0 + 28] = 0; }
static void bad_tensor_dtype(uint8_t *b, int *n) { b[TENSOR0 + 32] = 99; }
static void bad_tensor_acc(uint8_t *b, int *n) { b[TENSOR0 + 40] = 9; }
static void bad_tensor_io(uint8_t *b, int *n) { b[TENSOR0 + 41] = 8; }
static void bad_tensor_replica(uint8_t *b, int *n) { b[TENSOR0 + 41] = WIRE_IO_REPLICA | WIRE_IO_OUT; }
static void bad_tensor_offset(uint8_t *b, int *n) { memset(b + TENSOR0, 0xff, 8); }

TEST(wire_refuses_bad_counts_reserved_bytes_and_tensors)
{
	struct wire_frame *f = task_frame(3, 2, 1);

	refused(f, bad_nt, -EBADMSG, "257 tensors");
	refused(f, bad_ns, -EBADMSG, "129 scalars");
	refused(f, bad_nt_big, -EBADMSG, "tensors");
	refused(f, bad_task_flags, -EBADMSG, "task flags 0x5 are unknown");
	refused(f, bad_task_reserved, -EBADMSG, "reserved word");
	refused(f, bad_tensor_reserved, -EBADMSG, "tensor 0: reserved byte 0");
	refused(f, bad_tensor_pad, -EBADMSG, "tensor 0: padding byte 5");
	refused(f, bad_tensor_child, -EBADMSG, "child_memory is 1");
	refused(f, bad_tensor_ndims, -EBADMSG, "ndims is 0");
	refused(f, bad_tensor_dtype, -EBADMSG, "dtype 99");
	refused(f, bad_tensor_acc, -EBADMSG, "access 9");
	refused(f, bad_tensor_io, -EBADMSG, "io bits 0x8 are unknown");
	refused(f, bad_tensor_replica, -EBADMSG, "io bits 0x6: a replica is neither");
	refused(f, bad_tensor_offset, -EBADMSG, "overflows");
	free(f);
}

/* a task's waits: the last 8 + 8 * WIRE_AFTER_MAX bytes (count, reserved, tickets) */
#define WAITS(n)	((n) - 8 - 8 * WIRE_AFTER_MAX)

static void waits_none(uint8_t *b, int *n) { memset(b + WAITS(*n), 0, 4); }
static void waits_many(uint8_t *b, int *n) { b[WAITS(*n)] = WIRE_AFTER_MAX + 1; }
static void waits_reserved(uint8_t *b, int *n) { b[WAITS(*n) + 7] = 1; }
static void waits_later(uint8_t *b, int *n) { memset(b + *n - 8, 0x77, 8); }
static void waits_zero(uint8_t *b, int *n) { memset(b + WAITS(*n) + 8, 0, 8); }
static void waits_flag_only(uint8_t *b, int *n) { b[TASK_BODY + 32] &= 1; }

TEST(wire_round_trips_a_tasks_waits_and_refuses_bad_ones)
{
	struct wire_frame *f = task_frame(3, 2, 1), *g = frame_new(0);
	uint32_t i;

	f->u.task.nr_after = WIRE_AFTER_MAX;
	for (i = 0; i < WIRE_AFTER_MAX; i++)
		f->u.task.after[i] = f->u.task.ticket - 1 - i;
	CHECK_EQ(dec((size_t)enc(f), g), 0);
	CHECK_EQ(g->u.task.nr_after, WIRE_AFTER_MAX);
	for (i = 0; i < WIRE_AFTER_MAX; i++)
		CHECK_EQ(g->u.task.after[i], f->u.task.ticket - 1 - i);
	refused(f, waits_none, -EBADMSG, "names none");
	refused(f, waits_many, -EBADMSG, "at most 8");
	refused(f, waits_reserved, -EBADMSG, "reserved word of the task's waits");
	refused(f, waits_later, -EBADMSG, "is not an earlier task's");
	refused(f, waits_zero, -EBADMSG, "ticket 0 is not an earlier task's");
	/* the waits are there, the flag says they are not: bytes past the end */
	refused(f, waits_flag_only, -EBADMSG, "");
	/* nor does the encoder send what the decoder refuses */
	f->u.task.nr_after = WIRE_AFTER_MAX + 1;
	CHECK_EQ(sx_wire_encode(f, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "at most 8"), "%s", err);
	/* none: no flag, no bytes */
	f->u.task.nr_after = 0;
	CHECK_EQ(dec((size_t)enc(f), g), 0);
	CHECK_EQ(g->u.task.nr_after, 0);
	free(g);
	free(f);
}

static void empty_moving(uint8_t *b, int *n) { memset(b + TENSOR0 + 48 + 8, 0, 4); }

TEST(wire_takes_an_empty_tensor_only_when_it_moves_nothing)
{
	struct wire_frame *f = task_frame(3, 2, 1), *g = frame_new(0);

	/* tensor 1 (io IN) with its first dim 0 */
	refused(f, empty_moving, -EBADMSG, "tensor 1 is empty, yet its io bits 0x1 move bytes");
	f->u.task.tensors[1].shape[0] = 0;
	CHECK_EQ(sx_wire_encode(f, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "tensor 1 is empty"), "%s", err);
	f->u.task.io[1] = 0;
	CHECK_EQ(dec((size_t)enc(f), g), 0);
	CHECK_EQ(g->u.task.tensors[1].shape[0], 0);
	CHECK_EQ(sx_wire_span(&g->u.task, 1), 0);
	free(g);
	free(f);
}

/* frame f encoded and decoded: the decoder's return, its message in err */
static int round_trip(const struct wire_frame *f)
{
	struct wire_frame *g = frame_new(0);
	int ret = dec((size_t)enc(f), g);

	free(g);
	return ret;
}

TEST(wire_refuses_transfers_to_rank_0_on_reserved_tags_and_unbounded_pings)
{
	struct wire_frame *f = frame_new(WIRE_SEND), *t = task_frame(2, 0, 2);

	f->u.send = (struct wire_send){ 0, 100, 0, 64 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	CHECK_MSG(strstr(err, "SEND to rank 0 on tag 100"), "%s", err);
	f->u.send = (struct wire_send){ 2, WIRE_XFER_TAG - 1, 0, 64 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	CHECK_MSG(strstr(err, "on tag 15: a transfer goes to a node rank"), "%s", err);
	f->u.send = (struct wire_send){ 2, 0x80000000u, 0, 64 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	f->u.send = (struct wire_send){ 2, WIRE_XFER_TAG, 0, 64 };
	CHECK_EQ(round_trip(f), 0);

	/* a task's transfers: the encoder refuses what the decoder would */
	t->u.task.recvs[1].src = 0;
	CHECK_EQ(sx_wire_encode(t, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "transfer 1: from rank 0 on tag"), "%s", err);
	t->u.task.recvs[1].src = 1;
	t->u.task.recvs[1].tag = 3;	/* the ping tag */
	CHECK_EQ(sx_wire_encode(t, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "on tag 3"), "%s", err);
	t->u.task.recvs[1].tag = WIRE_XFER_TAG;
	CHECK_EQ(round_trip(t), 0);

	f->h.type = WIRE_CTRL;
	/* a ping between nodes: with a node rank, at most 4 GiB a message */
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PEER_PING, 1, (2ULL << 32) | 7, 4096 };
	CHECK_EQ(round_trip(f), 0);
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PEER_ECHO, 1, 7, 4096 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	CHECK_MSG(strstr(err, "with a node rank"), "%s", err);
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PEER_PING, 1, (2ULL << 32) | 7,
					WIRE_PING_MAX + 1 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PINGPONG, 1, 10, WIRE_PING_MAX + 1 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	CHECK_MSG(strstr(err, "10 round trips of 4294967297 bytes"), "%s", err);
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PINGPONG, 1, WIRE_PING_MAX, 8 };
	CHECK_EQ(round_trip(f), -EBADMSG);
	f->u.ctrl = (struct wire_ctrl){ WIRE_CTRL_PINGPONG, 1, WIRE_PING_MAX - 1, WIRE_PING_MAX };
	CHECK_EQ(round_trip(f), 0);
	free(t);
	free(f);
}

/* HELLO body: 6 u32, u64 arena, 32 bytes build-id, 64 bytes host, message */
#define HELLO_BID	(WIRE_HDR + 32)
#define HELLO_HOST	(HELLO_BID + 32)

static void bad_host_unterminated(uint8_t *b, int *n) { memset(b + HELLO_HOST, 'h', 64); }
static void bad_host_garbage(uint8_t *b, int *n) { b[HELLO_HOST + 60] = 'z'; }
static void bad_bid_tail(uint8_t *b, int *n) { b[HELLO_BID + 31] = 1; }
static void bad_msg_len(uint8_t *b, int *n) { b[HELLO_HOST + 64 + 1] = 0x10; }	/* 4096+ */
static void bad_hello_err(uint8_t *b, int *n) { b[WIRE_HDR + 4] = 5; }

TEST(wire_refuses_bad_strings_and_fields)
{
	struct wire_frame *f = frame_new(WIRE_HELLO);

	strcpy(f->u.hello.host, "vm");
	f->u.hello.build_id_len = 20;
	strcpy(f->u.hello.msg, "ok");
	refused(f, bad_host_unterminated, -EBADMSG, "not NUL terminated");
	refused(f, bad_host_garbage, -EBADMSG, "non-zero bytes after its end");
	refused(f, bad_bid_tail, -EBADMSG, "build-id byte 31");
	refused(f, bad_msg_len, -EBADMSG, "exceeds 1024");
	refused(f, bad_hello_err, -EBADMSG, "positive");
	free(f);
	/* an encoder refuses what a decoder would: 257 tensors */
	f = task_frame(3, 0, 0);
	f->u.task.nr_tensors = 257;
	CHECK_EQ(sx_wire_encode(f, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	f->u.task.nr_tensors = 3;
	CHECK_EQ(sx_wire_encode(f, buf, 100, err, sizeof(err)), -EMSGSIZE);
	free(f);
}

TEST(wire_sequence_numbers_refuse_repeats_and_gaps)
{
	uint64_t next = 1;

	CHECK_EQ(sx_wire_seq_check(&next, 1, err, sizeof(err)), 0);
	CHECK_EQ(sx_wire_seq_check(&next, 2, err, sizeof(err)), 0);
	CHECK_EQ(sx_wire_seq_check(&next, 2, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "a repeat"));
	CHECK_EQ(sx_wire_seq_check(&next, 5, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "frames were lost"));
	CHECK_EQ(next, 3);
}

/*
 * Every single-byte change and every truncation of valid frames: the
 * decoder either accepts (a byte that carries data) or refuses with a
 * message, and never reads outside the frame (ASan's build checks that).
 */
TEST(wire_mangled_frames_never_escape_the_buffer)
{
	struct wire_frame *f = task_frame(5, 3, 2), *g = frame_new(0);
	static uint8_t copy[WIRE_MAX_FRAME];
	unsigned seed = 12345;
	int n, i, k, ret, refusals = 0;

	/* with waits: their count and tickets get flipped too */
	f->u.task.nr_after = 2;
	f->u.task.after[0] = 5;
	f->u.task.after[1] = 9;
	n = enc(f);

	memcpy(copy, buf, (size_t)n);
	for (i = 0; i < 20000; i++) {
		uint8_t *p = malloc((size_t)n);	/* exactly n bytes: ASan sees any overrun */
		int len = n;

		memcpy(p, copy, (size_t)n);
		for (k = 0; k < 1 + i % 3; k++) {
			seed = seed * 1103515245 + 12345;
			p[(seed >> 8) % (unsigned)n] ^= (uint8_t)(1 + (seed >> 20) % 255);
		}
		if (i % 7 == 0)
			len = (int)((seed >> 4) % (unsigned)n);
		err[0] = 0;
		ret = sx_wire_decode(p, (size_t)len, g, err, sizeof(err));
		CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTO);
		if (ret) {
			CHECK(err[0]);
			refusals++;
		}
		free(p);
	}
	CHECK(refusals > 10000);
	free(f);
	free(g);
}

TEST_MAIN()
