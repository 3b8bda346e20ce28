// SPDX-License-Identifier: MIT
/*
 * The progress line of the long benchmarks: on a terminal, one line on
 * stderr rewritten in place ("\r") as each step starts; nothing at all when
 * stdout or stderr is not a terminal, so what a program or a log reads is
 * the results alone.
 */
#include <stdarg.h>

#include "tool.h"

void tool_progress_start(struct tool_progress *p, int total)
{
	p->on = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
	p->done = 0;
	p->total = total;
	p->t0 = tool_now_ns();
}

void tool_progress(struct tool_progress *p, const char *fmt, ...)
{
	va_list ap;

	p->done++;
	if (!p->on)
		return;
	/* \033[K clears what a longer line left */
	fprintf(stderr, "\r\033[K  [%d/%d, %.0f s] ", p->done, p->total,
		(double)(tool_now_ns() - p->t0) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void tool_progress_end(struct tool_progress *p)
{
	if (p->on)
		fprintf(stderr, "\r\033[K");
	fflush(stderr);
}
