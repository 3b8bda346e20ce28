// SPDX-License-Identifier: MIT
/* Error messages and task failures (see errors.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "errors.h"

static __thread char last_errmsg[ERRMSG_LEN];

char *sx_err_last(void)
{
	return last_errmsg;
}

int sx_errf(char *buf, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf ? buf : last_errmsg, ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return err;
}

struct failure *sx_failure_new(int err, const char *fmt, ...)
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

void sx_failure_put(struct failure *f)
{
	/* acq_rel: every holder's reads of the failure happen before the last one frees it */
	if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		free(f);
}

struct failure *sx_failure_or_oom(struct failure *f)
{
	/* a failure we could not allocate: shared, never freed (its count never reaches 0) */
	static struct {
		struct failure f;
		char msg[64];
	} oom = { .f = { .refs = 1u << 30, .err = -ENOMEM },
		  .msg = "out of memory while recording a task failure" };

	return f ? f : failure_get(&oom.f);
}
