// SPDX-License-Identifier: MIT
/*
 * simpler bench tensormap: the TensorMap alone, nanoseconds per tensor
 * argument, in a steady state where registrations are dropped 4096 accesses
 * later (as slot recycling does).  Tasks never finish here, so every
 * conflict is reported, as an edge or through the last writer (edges/arg).
 *
 *   repeat-1      INOUT on one range again and again (exact-range fast path)
 *   repeat-1024   INOUT cycling over 1024 disjoint ranges (fast path, hash)
 *   read-write    three INs then an OUT of one range (reader lists)
 *   overlap-4     128 B windows every 32 B, IN and OUT: each overlaps 6 others
 *   overlap-64    1 KiB windows every 16 B, IN and OUT: each overlaps ~126
 *                 others (~63 earlier), but meets only the few segments the
 *                 last write left
 *   tile-sweep    INOUT over the 144 64x64 tiles of a 768x768 float matrix,
 *                 views of one layout: spans interleave, bytes do not
 *   panels        row panels (plain ranges) against column panels (views), all
 *                 INOUT: each meets the 12 of the other kind (exact tests)
 * View cases work out the view's layout per access, as submit does.
 */
#include <stdlib.h>
#include <string.h>

#include "base/tensor.h"
#include "cli.h"
#include "task.h"
#include "tensormap.h"
#include "tool.h"

#define WINDOW 4096

static uint64_t nedges;

static void count(struct task *c, struct task *p, void *arg)
{
	(void)c;
	(void)p;
	(void)arg;
	nedges++;
}

struct tm_case {
	const char *name;
	void (*gen)(uint64_t i, uint64_t *s, uint64_t *e, unsigned *mode);
	/* a view case instead: its first byte, layout and mode */
	void (*vgen)(uint64_t i, uint64_t *s, struct sx_layout *lay, unsigned *mode);
};

static void g_repeat1(uint64_t i, uint64_t *s, uint64_t *e, unsigned *m)
{
	(void)i;
	*s = 0;
	*e = 64;
	*m = SIMPLER_INOUT;
}

static void g_repeat1024(uint64_t i, uint64_t *s, uint64_t *e, unsigned *m)
{
	*s = (i % 1024) * 64;
	*e = *s + 64;
	*m = SIMPLER_INOUT;
}

static void g_readwrite(uint64_t i, uint64_t *s, uint64_t *e, unsigned *m)
{
	*s = 0;
	*e = 64;
	*m = i % 4 == 3 ? SIMPLER_OUT : SIMPLER_IN;
}

static void g_overlap4(uint64_t i, uint64_t *s, uint64_t *e, unsigned *m)
{
	*s = (i % 8192) * 32;
	*e = *s + 128;
	*m = i % 2 ? SIMPLER_IN : SIMPLER_OUT;
}

static void g_overlap64(uint64_t i, uint64_t *s, uint64_t *e, unsigned *m)
{
	*s = (i % 8192) * 16;
	*e = *s + 1024;
	*m = i % 2 ? SIMPLER_IN : SIMPLER_OUT;
}

#define MAT 768		/* floats per row and rows */
#define TILE 64

/* a rows x cols view of the matrix at (r0, c0), as submit works out its layout */
static void mat_view(uint64_t r0, uint64_t c0, uint32_t rows, uint32_t cols, uint64_t *s,
		     struct sx_layout *lay)
{
	struct simpler_tensor t = { .ndims = 2, .dtype = SIMPLER_F32, .shape = { rows, cols } };
	uint64_t st[SIMPLER_MAX_DIMS] = { MAT, 1 };

	*s = (r0 * MAT + c0) * 4;
	sx_layout_of(&t, st, lay);
}

static void g_tiles(uint64_t i, uint64_t *s, struct sx_layout *lay, unsigned *m)
{
	uint64_t k = i % ((MAT / TILE) * (MAT / TILE));

	mat_view(k / (MAT / TILE) * TILE, k % (MAT / TILE) * TILE, TILE, TILE, s, lay);
	*m = SIMPLER_INOUT;
}

static void g_panels(uint64_t i, uint64_t *s, struct sx_layout *lay, unsigned *m)
{
	uint64_t k = i / 2 % (MAT / TILE);

	if (i % 2)
		mat_view(0, k * TILE, MAT, TILE, s, lay);
	else
		mat_view(k * TILE, 0, TILE, MAT, s, lay);
	*m = SIMPLER_INOUT;
}

static const struct tm_case cases[] = {
	{ "repeat-1", g_repeat1, NULL },     { "repeat-1024", g_repeat1024, NULL },
	{ "read-write", g_readwrite, NULL }, { "overlap-4", g_overlap4, NULL },
	{ "overlap-64", g_overlap64, NULL }, { "tile-sweep", NULL, g_tiles },
	{ "panels", NULL, g_panels },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ns per access over n accesses, after a warm-up window */
static double run_case(const struct tm_case *c, uint64_t n, double *edges_per, double *fast_share)
{
	struct tensormap *tm = sx_tm_new(1);
	struct task *tasks = calloc(WINDOW, sizeof(*tasks));
	struct tm_ref *refs = calloc(WINDOW, sizeof(*refs));
	uint64_t i, s, e, t0 = 0, fast = 0;
	struct sx_layout lay;
	unsigned mode;

	for (i = 0; i < n + WINDOW; i++) {
		uint64_t k = i % WINDOW;

		if (i == WINDOW) {
			t0 = tool_now_ns();
			nedges = 0;
			fast = 0;
		}
		sx_tm_release(tm, &refs[k]);	/* the slot's previous tenant */
		tasks[k].stamp = i + 1;
		if (c->gen) {
			c->gen(i, &s, &e, &mode);
			fast += sx_tm_access(tm, &tasks[k], &refs[k], 0, s, e, mode, count,
					     NULL) == 1;
			continue;
		}
		c->vgen(i, &s, &lay, &mode);
		fast += sx_tm_access_layout(tm, &tasks[k], &refs[k], 0, s, s + sx_layout_span(&lay),
					    lay.nd ? &lay : NULL, mode, count, NULL) == 1;
	}
	t0 = tool_now_ns() - t0;
	*edges_per = (double)nedges / (double)n;
	*fast_share = (double)fast / (double)n;
	for (i = 0; i < WINDOW; i++)
		sx_tm_release(tm, &refs[i]);
	sx_tm_free(tm);
	free(tasks);
	free(refs);
	return (double)t0 / (double)n;
}

int bench_tensormap(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_opts b = { .n = 1000000, .reps = 5 };
	double ns[NCASES], ed[NCASES], fs[NCASES], v[16];
	struct tool_progress prog;
	int i, reps, json;
	uint64_t n;
	size_t k;
	const struct cli_opt opts[] = {
		{ NULL, 'n', "ACCESSES", "accesses per case, at least 4", CLI_U64, &b.n, 4, 0, NULL,
		  NULL },
		CLI_REPS(&b.reps), CLI_JSON(&b.json), CLI_END,
	};

	i = cli_parse(cmd, opts, argc, argv);
	if (i != CLI_RUN)
		return i;
	n = b.n;
	reps = b.reps;
	json = b.json;
	tool_progress_start(&prog, NCASES);
	for (k = 0; k < NCASES; k++) {
		tool_progress(&prog, "%s", cases[k].name);
		for (i = 0; i < reps; i++)
			v[i] = run_case(&cases[k], n, &ed[k], &fs[k]);
		ns[k] = tool_median(v, reps);
	}
	tool_progress_end(&prog);
	if (json) {
		printf("{\"bench\":\"tensormap\",\"accesses\":%llu,\"reps\":%d,\"cases\":[",
		       (unsigned long long)n, reps);
		for (k = 0; k < NCASES; k++)
			printf("%s{\"case\":\"%s\",\"ns_per_arg\":%.1f,\"edges_per_arg\":%.2f,"
			       "\"fast_path\":%.3f}", k ? "," : "", cases[k].name, ns[k], ed[k], fs[k]);
		printf("]}\n");
		return 0;
	}
	printf("simpler bench tensormap: %llu accesses per case, median of %d, "
	       "registrations live for %d accesses\n\n", (unsigned long long)n, reps, WINDOW);
	printf("%-12s %12s %12s %10s\n", "case", "ns/argument", "edges/arg", "fast path");
	for (k = 0; k < NCASES; k++)
		printf("%-12s %12.1f %12.2f %9.0f%%\n", cases[k].name, ns[k], ed[k], 100 * fs[k]);
	return 0;
}
