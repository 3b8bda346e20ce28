// SPDX-License-Identifier: MIT
/*
 * The chip side of a launch (see chip.h): resolve nothing, trust nothing
 * the platform does not check, and turn every failure into a message that
 * says where it happened.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/errors.h"
#include "base/tensor.h"
#include "chip/bootstrap.h"
#include "chip/launch.h"

#define CTX_MAGIC 0x53494d504c455258ULL

/*
 * Launch scratch.  The kernel sees tensors pointing into ctx->tensors, which
 * lets simpler_kernel_errmsg() find the context from any copy of the args
 * (the platform may copy them per block).
 */
struct exec_ctx {
	uint64_t magic;
	pthread_mutex_t msg_lock;	/* blocks of one launch may fail together */
	char msg[ERRMSG_LEN / 2];
	uint64_t staged[SIMPLER_MAX_TENSORS];	/* chip copy of a host tensor, or 0 */
	struct simpler_tensor tensors[SIMPLER_MAX_TENSORS];
	uint64_t strides[SIMPLER_MAX_TENSORS * SIMPLER_MAX_DIMS];	/* what the kernel sees */
};

int sx_chipside_init(struct chipside *cs, const struct simpler_platform_ops *plat,
		     struct simpler_chip *chip, unsigned caps, const char *kind, int index,
		     int pid)
{
	memset(cs, 0, sizeof(*cs));
	cs->plat = plat;
	cs->chip = chip;
	cs->caps = caps;
	cs->index = index;
	cs->node = !strcmp(kind, "node");
	if (pid)
		snprintf(cs->where, sizeof(cs->where), "%s %d (pid %d)", kind, index, pid);
	else
		snprintf(cs->where, sizeof(cs->where), "%s %d", kind, index);
	cs->ctx = calloc(1, sizeof(*cs->ctx));
	if (!cs->ctx)
		return -ENOMEM;
	cs->ctx->magic = CTX_MAGIC;
	pthread_mutex_init(&cs->ctx->msg_lock, NULL);
	return 0;
}

void sx_chipside_fini(struct chipside *cs)
{
	if (!cs->ctx)
		return;
	pthread_mutex_destroy(&cs->ctx->msg_lock);
	free(cs->ctx);
	cs->ctx = NULL;
}

SIMPLER_API void simpler_kernel_errmsg(const struct simpler_kernel_args *args, const char *fmt, ...)
{
	struct exec_ctx *ctx;
	va_list ap;

	if (!args || !args->tensors)
		return;
	ctx = container_of(args->tensors, struct exec_ctx, tensors);
	if (ctx->magic != CTX_MAGIC)
		return;
	pthread_mutex_lock(&ctx->msg_lock);
	if (!ctx->msg[0]) {	/* the first block to complain wins */
		va_start(ap, fmt);
		vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&ctx->msg_lock);
}

static bool acc_reads(unsigned acc)
{
	return acc == SIMPLER_IN || acc == SIMPLER_INOUT || acc == SIMPLER_NO_DEP;
}

static bool acc_writes(unsigned acc)
{
	return acc != SIMPLER_IN;
}

struct run_copy {
	struct chipside *cs;
	uint64_t host, chip;		/* the span's first byte on each side */
	bool to_chip;
	int ret;
	char *err;
	size_t len;
};

static void copy_run(uint64_t s, uint64_t len, void *arg)
{
	struct run_copy *c = arg;
	uint64_t off = s - c->host;

	if (c->ret)
		return;
	if (c->to_chip)
		c->ret = c->cs->plat->copy_to(c->cs->chip, c->chip + off, (const void *)(uintptr_t)s,
					      len, c->err, c->len);
	else
		c->ret = c->cs->plat->copy_from(c->cs->chip, (void *)(uintptr_t)s, c->chip + off,
						len, c->err, c->len);
}

/*
 * Copy the bytes of a host argument at host to or from its chip copy at
 * chip: the span in one copy when the argument covers all of it, else run
 * by run, so bytes between a view's runs, which other tasks may be writing,
 * are never copied back over.  Returns 0 or the platform's error; *bytes
 * grows by what was copied.
 */
static int stage_copy(struct chipside *cs, const struct sx_layout *lay, uint64_t host,
		      uint64_t chip, bool to_chip, uint64_t *bytes, char *err, size_t len)
{
	struct run_copy c = { cs, host, chip, to_chip, 0, err, len };
	uint64_t n = lay->run;
	uint32_t d;

	sx_layout_runs(lay, host, copy_run, &c);	/* one run: one copy */
	for (d = 0; d < lay->nd; d++)
		n *= lay->count[d];
	*bytes += n;
	return c.ret;
}

/* undo staging: free every chip copy */
static void unstage(struct chipside *cs, uint32_t nt)
{
	char err[128];
	uint32_t i;

	for (i = 0; i < nt; i++) {
		if (cs->ctx->staged[i])
			cs->plat->mem_free(cs->chip, cs->ctx->staged[i], err, sizeof(err));
		cs->ctx->staged[i] = 0;
	}
}

/* what the kernel sees, from ctx->tensors (staged already) and l */
static void args_fill(struct chipside *cs, const struct launch *l, struct simpler_kernel_args *args)
{
	struct exec_ctx *ctx = cs->ctx;
	uint32_t i;

	/* every argument's strides, row-major for a plain tensor */
	for (i = 0; i < l->nt; i++) {
		const uint64_t *st = sx_strides_at(l->strides, i);

		if (st)
			memcpy(&ctx->strides[i * SIMPLER_MAX_DIMS], st,
			       SIMPLER_MAX_DIMS * sizeof(*st));
		else
			sx_rowmajor_strides(&ctx->tensors[i], &ctx->strides[i * SIMPLER_MAX_DIMS]);
	}
	memset(args, 0, sizeof(*args));
	args->nr_tensors = l->nt;
	args->nr_scalars = l->ns;
	args->tensors = ctx->tensors;
	args->strides = ctx->strides;
	args->scalars = l->scalars;
	args->block_dim = l->block_dim ? l->block_dim : 1;
	args->chip = cs->chip ? cs->index : -1;
}

/*
 * A node fn on a node: nothing to stage (local nodes share the host's
 * memory), one "block", and the node's own message stacked under ours.
 */
static int node_launch(struct chipside *cs, const struct launch *l, char *msg, size_t len)
{
	struct simpler_kernel_args args;
	uint32_t failed = UINT32_MAX;
	char err[ERRMSG_LEN];
	int ret;

	if (l->nt)
		memcpy(cs->ctx->tensors, l->tensors, l->nt * sizeof(*cs->ctx->tensors));
	args_fill(cs, l, &args);
	err[0] = 0;
	ret = cs->plat->launch(cs->chip, l->fn, &args, &failed, err, sizeof(err));
	if (ret)
		snprintf(msg, len, "%s: node fn '%s' (task #%" PRIu64 "): %s", cs->where, l->name,
			 l->seq, err[0] ? err : strerror(-ret));
	return ret;
}

int sx_chipside_launch(struct chipside *cs, const struct launch *l, char *msg, size_t len,
		       uint64_t *staged)
{
	struct exec_ctx *ctx = cs->ctx;
	struct simpler_kernel_args args;
	struct sx_layout lay;
	bool staging = cs->chip && !(cs->caps & SIMPLER_PLAT_HOST_DIRECT);
	uint32_t i, failed_block = UINT32_MAX;
	uint64_t nbytes;
	char err[256];
	int ret = 0;

	*staged = 0;
	if (cs->node)
		return node_launch(cs, l, msg, len);
	if (l->nt)
		memcpy(ctx->tensors, l->tensors, l->nt * sizeof(*ctx->tensors));
	ctx->msg[0] = 0;

	for (i = 0; staging && i < l->nt; i++) {
		struct simpler_tensor *x = &ctx->tensors[i];

		ctx->staged[i] = 0;
		sx_layout_of(x, sx_strides_at(l->strides, i), &lay);
		nbytes = sx_layout_span(&lay);
		if (x->child_memory || !nbytes)
			continue;
		ret = cs->plat->mem_alloc(cs->chip, nbytes, &ctx->staged[i], err, sizeof(err));
		if (!ret && acc_reads(l->acc[i]))
			ret = stage_copy(cs, &lay, x->addr, ctx->staged[i], true, staged, err,
					 sizeof(err));
		if (ret) {
			unstage(cs, i + 1);
			snprintf(msg, len, "%s: staging tensor %u of kernel '%s' (task #%" PRIu64
				 "): %s", cs->where, i, l->name, l->seq, err);
			return ret;
		}
		x->addr = ctx->staged[i];
	}

	args_fill(cs, l, &args);

	if (cs->chip) {
		err[0] = 0;
		ret = cs->plat->launch(cs->chip, l->fn, &args, &failed_block, err, sizeof(err));
		/* refused before any block ran: the platform's reason */
		if (ret && failed_block == UINT32_MAX && err[0])
			snprintf(ctx->msg, sizeof(ctx->msg), "%s", err);
	} else {
		for (args.block_idx = 0; args.block_idx < args.block_dim; args.block_idx++) {
			ret = l->fn(&args);
			if (ret) {
				failed_block = args.block_idx;
				ret = ret < 0 ? ret : -EIO;
				break;
			}
		}
	}

	for (i = 0; staging && i < l->nt && !ret; i++) {
		if (!ctx->staged[i] || !acc_writes(l->acc[i]))
			continue;
		sx_layout_of(&l->tensors[i], sx_strides_at(l->strides, i), &lay);
		ret = stage_copy(cs, &lay, l->tensors[i].addr, ctx->staged[i], false, staged, err,
				 sizeof(err));
		if (ret) {
			unstage(cs, l->nt);
			snprintf(msg, len, "%s: copying tensor %u of kernel '%s' (task #%" PRIu64
				 ") back to the host: %s", cs->where, i, l->name, l->seq, err);
			return ret;
		}
	}
	if (staging)
		unstage(cs, l->nt);
	/* the outputs reach the host before the task is reported done; never after a failure */
	if (!ret && cs->boot && cs->boot->chip[cs->index].nstore) {
		ret = sx_boot_store(cs, err, sizeof(err));
		if (ret)
			snprintf(msg, len, "%s: kernel '%s' (task #%" PRIu64 ") ran, but %s",
				 cs->where, l->name, l->seq, err);
		return ret;
	}
	if (!ret)
		return 0;
	if (failed_block == UINT32_MAX)
		snprintf(msg, len, "%s: kernel '%s' (task #%" PRIu64 ") was not launched: %s",
			 cs->where, l->name, l->seq, ctx->msg[0] ? ctx->msg : strerror(-ret));
	else
		snprintf(msg, len, "%s: kernel '%s' (task #%" PRIu64 ", block %u of %u) returned %d "
			 "(%s)%s%s", cs->where, l->name, l->seq, failed_block, args.block_dim, ret,
			 strerror(-ret), ctx->msg[0] ? ": " : "", ctx->msg);
	return ret;
}
