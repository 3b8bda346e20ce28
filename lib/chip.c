// SPDX-License-Identifier: MIT
/*
 * Running one member of a task on an executor: resolve the kernel, stage
 * host tensors into chip memory when the chip cannot read host memory, launch
 * over block_dim blocks through the platform, copy written tensors back, and
 * turn a failure into a message that says where it happened.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CTX_MAGIC 0x53494d504c455258ULL

/*
 * Per-executor launch scratch.  The kernel sees ctx->args with tensors
 * pointing into ctx->tensors, which lets simpler_kernel_errmsg() find the
 * context from any copy of the args (the platform may copy them per block).
 */
struct exec_ctx {
	uint64_t magic;
	pthread_mutex_t msg_lock;	/* blocks of one launch may fail together */
	char msg[ERRMSG_LEN / 2];
	uint64_t staged[SIMPLER_MAX_TENSORS];	/* chip copy of a host tensor, or 0 */
	struct simpler_tensor tensors[SIMPLER_MAX_TENSORS];
};

int exec_ctx_alloc(struct exec *ex)
{
	ex->ctx = calloc(1, sizeof(*ex->ctx));
	if (!ex->ctx)
		return -ENOMEM;
	ex->ctx->magic = CTX_MAGIC;
	pthread_mutex_init(&ex->ctx->msg_lock, NULL);
	return 0;
}

void exec_ctx_free(struct exec *ex)
{
	if (!ex->ctx)
		return;
	pthread_mutex_destroy(&ex->ctx->msg_lock);
	free(ex->ctx);
	ex->ctx = NULL;
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

/* where: "chip 1" or "sub 0" */
static int where(const struct exec *ex, char *buf, size_t len)
{
	return snprintf(buf, len, "%s %d", ex->pool->chips ? "chip" : "sub", ex->index);
}

/* undo staging: free every chip copy */
static void unstage(struct exec *ex, uint32_t nt)
{
	struct simpler_worker *w = ex->w;
	char err[128];
	uint32_t i;

	for (i = 0; i < nt; i++) {
		if (ex->ctx->staged[i])
			w->plat->mem_free(ex->chip, ex->ctx->staged[i], err, sizeof(err));
		ex->ctx->staged[i] = 0;
	}
}

struct failure *exec_member(struct exec *ex, struct task *t, uint32_t m)
{
	struct simpler_worker *w = ex->w;
	const struct member *mb = &t->members[m];
	struct exec_ctx *ctx = ex->ctx;
	struct simpler_kernel_args args;
	const struct callable *cb = &w->callables[t->callable];
	bool staging = ex->chip && !(w->caps & SIMPLER_PLAT_HOST_DIRECT);
	uint32_t i, failed_block = UINT32_MAX, nt = mb->nt;
	uint64_t nbytes, staged_bytes = 0;
	char at[32], err[256];
	int ret = 0;

	if (nt)
		memcpy(ctx->tensors, &t->tensors[mb->t0], nt * sizeof(*ctx->tensors));
	ctx->msg[0] = 0;

	if (staging) {
		for (i = 0; i < nt && !ret; i++) {
			struct simpler_tensor *x = &ctx->tensors[i];
			unsigned acc = t->acc[mb->t0 + i];

			ctx->staged[i] = 0;
			nbytes = simpler_tensor_nbytes(x);
			if (x->child_memory || !nbytes)
				continue;
			ret = w->plat->mem_alloc(ex->chip, nbytes, &ctx->staged[i], err, sizeof(err));
			if (!ret && acc_reads(acc)) {
				ret = w->plat->copy_to(ex->chip, ctx->staged[i],
						       (const void *)(uintptr_t)x->addr, nbytes, err,
						       sizeof(err));
				staged_bytes += nbytes;
			}
			if (ret) {
				unstage(ex, i + 1);
				where(ex, at, sizeof(at));
				return failure_or_oom(failure_new(ret,
					"%s: staging tensor %u of kernel '%s' (task #%" PRIu64 "): %s",
					at, i, cb->name, t->seq, err));
			}
			x->addr = ctx->staged[i];
		}
	}

	memset(&args, 0, sizeof(args));
	args.nr_tensors = nt;
	args.nr_scalars = mb->ns;
	args.tensors = ctx->tensors;
	args.scalars = &t->scalars[mb->s0];
	args.block_dim = t->block_dim;
	args.chip = ex->chip ? ex->index : -1;

	if (ex->chip) {
		ret = w->plat->launch(ex->chip, cb->fn, &args, &failed_block);
	} else {
		for (args.block_idx = 0; args.block_idx < args.block_dim; args.block_idx++) {
			ret = cb->fn(&args);
			if (ret) {
				failed_block = args.block_idx;
				ret = ret < 0 ? ret : -EIO;
				break;
			}
		}
	}

	if (staging) {
		for (i = 0; i < nt && !ret; i++) {
			unsigned acc = t->acc[mb->t0 + i];
			const struct simpler_tensor *x = &t->tensors[mb->t0 + i];

			if (!ctx->staged[i] || !acc_writes(acc))
				continue;
			nbytes = simpler_tensor_nbytes(x);
			ret = w->plat->copy_from(ex->chip, (void *)(uintptr_t)x->addr,
						 ctx->staged[i], nbytes, err, sizeof(err));
			staged_bytes += nbytes;
			if (ret) {
				unstage(ex, nt);
				where(ex, at, sizeof(at));
				return failure_or_oom(failure_new(ret,
					"%s: copying tensor %u of kernel '%s' (task #%" PRIu64
					") back to the host: %s", at, i, cb->name, t->seq, err));
			}
		}
		unstage(ex, nt);
		STAT_ADD(ex->st_staged, staged_bytes);
	}
	if (!ret)
		return NULL;
	where(ex, at, sizeof(at));
	if (failed_block == UINT32_MAX)
		return failure_or_oom(failure_new(ret, "%s: kernel '%s' (task #%" PRIu64
						  ") was not launched: %s", at, cb->name, t->seq,
						  ctx->msg[0] ? ctx->msg : strerror(-ret)));
	return failure_or_oom(failure_new(ret, "%s: kernel '%s' (task #%" PRIu64 ", block %u of %u) "
					  "returned %d (%s)%s%s", at, cb->name, t->seq, failed_block,
					  args.block_dim, ret, strerror(-ret),
					  ctx->msg[0] ? ": " : "", ctx->msg));
}
