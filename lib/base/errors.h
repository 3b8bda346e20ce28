/* SPDX-License-Identifier: MIT */
/*
 * Error messages and task failures, for every layer (the chip side
 * included).  A message is written where the error is detected into the
 * buffer the caller names: a worker's, or, for a call that has no worker
 * (a failed create, a NULL worker), the calling thread's last message.
 * Thread-safe: a failure is immutable once made and counted by reference.
 */
#ifndef SIMPLER_BASE_ERRORS_H
#define SIMPLER_BASE_ERRORS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ERRMSG_LEN 1024

/*
 * Format into buf (ERRMSG_LEN bytes), or into the calling thread's last
 * message when buf is NULL; returns err, so callers can
 * `return sx_errf(buf, -EINVAL, ...)`.
 */
int sx_errf(char *buf, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* the calling thread's last message (simpler_last_errmsg()) */
char *sx_err_last(void);

/*
 * A task's failure, immutable once published and shared by reference with
 * every task it poisons and with the run.
 */
struct failure {
	_Atomic uint32_t refs;
	int err;
	char msg[];
};

/* a new failure (err < 0, else -EIO), or NULL when out of memory */
struct failure *sx_failure_new(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* f, or a static out-of-memory failure when f is NULL: never NULL */
struct failure *sx_failure_or_oom(struct failure *f);
void sx_failure_put(struct failure *f);

static inline struct failure *failure_get(struct failure *f)
{
	/* relaxed: the caller already holds a reference, which orders the failure's contents */
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

#endif /* SIMPLER_BASE_ERRORS_H */
