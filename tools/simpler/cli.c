// SPDX-License-Identifier: MIT
/*
 * Options of the simpler command: getopt_long() over each command's table
 * (cli.h), --help printed from the same table, and errors that name the
 * word refused and the command it was given to.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_MAX_OPTS 32
#define KEY_LONG 256		/* an option without a letter: KEY_LONG + its index */

static const struct cli_opt help_opt = { "help", 'h', NULL, "print this help and exit",
					 CLI_FLAG, NULL, 0, 0, NULL, NULL };

/* the command's table and -h, --help: n entries */
struct table {
	const struct cli_opt *o[CLI_MAX_OPTS + 1];
	int n;
};

static void table_of(const struct cli_opt *opts, struct table *t)
{
	t->n = 0;
	while (opts && opts[t->n].help && t->n < CLI_MAX_OPTS) {
		t->o[t->n] = &opts[t->n];
		t->n++;
	}
	t->o[t->n++] = &help_opt;
}

static int key_of(const struct table *t, int i)
{
	return t->o[i]->key ? t->o[i]->key : KEY_LONG + i;
}

static const struct cli_opt *by_key(const struct table *t, int key)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (key_of(t, i) == key)
			return t->o[i];
	return NULL;
}

/* what an option is called in a message: --name, or -k */
static const char *label(const struct cli_opt *o, char *buf, size_t len)
{
	if (o->name)
		snprintf(buf, len, "--%s", o->name);
	else
		snprintf(buf, len, "-%c", o->key);
	return buf;
}

/* " for 'bench work'" after "simpler", nothing for the program itself */
static const char *whose(const struct cli_cmd *c, char *buf, size_t len)
{
	const char *sp = strchr(c->name, ' ');

	if (!sp)
		return "";
	snprintf(buf, len, " for '%s'", sp + 1);
	return buf;
}

int cli_error(const struct cli_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%.*s: ", (int)strcspn(c->name, " "), c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see %s --help\n", c->name);
	return 2;
}

/* ---- values ---- */

static const char *in_range(const struct cli_opt *o, double v, char *why, size_t len)
{
	if (o->max > 0 && (v < o->min || v > o->max))
		snprintf(why, len, "in %g..%g", o->min, o->max);
	else if (v < o->min)
		snprintf(why, len, "at least %g", o->min);
	else
		return NULL;
	return why;
}

/* store value in o->dst: NULL, or what the value is not */
static const char *take(const struct cli_opt *o, const char *value, char *why, size_t len)
{
	unsigned long long u = 0;
	long long s = 0;
	double d = 0;
	char *end = NULL;
	const char *bad;
	size_t k, at;

	errno = 0;
	switch (o->type) {
	case CLI_FLAG:
		*(int *)o->dst = 1;
		return NULL;
	case CLI_FN:
		return o->fn(value, o->dst);
	case CLI_CHOICE:
		at = (size_t)snprintf(why, len, "one of");
		for (k = 0; o->choices[k]; k++) {
			if (!strcmp(value, o->choices[k])) {
				*(int *)o->dst = (int)k;
				return NULL;
			}
			if (at < len)
				at += (size_t)snprintf(why + at, len - at, "%s %s", k ? "," : "",
						       o->choices[k]);
		}
		return why;
	case CLI_INT:
		s = strtoll(value, &end, 10);
		d = (double)s;
		break;
	case CLI_U32:
	case CLI_U64:
		if (value[0] == '-') {	/* strtoull would take "-1" as 2^64 - 1 */
			s = strtoll(value, &end, 10);
			d = (double)s;
			break;
		}
		u = strtoull(value, &end, 10);
		d = (double)u;
		break;
	case CLI_DOUBLE:
		d = strtod(value, &end);
		if (!isfinite(d))
			return "a number";
		break;
	}
	if (!*value || *end) {	/* "1.5" for a count is a number, just not a whole one */
		if (*value && o->type != CLI_DOUBLE && (strtod(value, &end), !*end))
			return "a whole number";
		return "a number";
	}
	bad = in_range(o, d, why, len);
	if (bad)
		return bad;
	if (errno || (o->type == CLI_INT && (s < INT32_MIN || s > INT32_MAX)) ||
	    (o->type == CLI_U32 && u > UINT32_MAX))
		return "a number that fits";
	switch (o->type) {
	case CLI_INT:
		*(int *)o->dst = (int)s;
		break;
	case CLI_U32:
		*(uint32_t *)o->dst = (uint32_t)u;
		break;
	case CLI_U64:
		*(uint64_t *)o->dst = u;
		break;
	default:
		*(double *)o->dst = d;
		break;
	}
	return NULL;
}

/* ---- --help ---- */

/* "(default 3)" from what dst holds before parsing; "" when that says nothing */
static const char *default_of(const struct cli_opt *o, char *buf, size_t len)
{
	double v = 0;

	switch (o->type) {
	case CLI_INT:
		v = *(int *)o->dst;
		break;
	case CLI_U32:
		v = *(uint32_t *)o->dst;
		break;
	case CLI_U64:
		v = (double)*(uint64_t *)o->dst;
		break;
	case CLI_DOUBLE:
		v = *(double *)o->dst;
		break;
	case CLI_CHOICE:
		if (*(int *)o->dst < 0)
			return "";
		snprintf(buf, len, " (default %s)", o->choices[*(int *)o->dst]);
		return buf;
	default:
		return "";
	}
	if (v == 0)
		return "";
	snprintf(buf, len, " (default %.15g)", v);
	return buf;
}

static void list_subs(FILE *f, const struct cli_sub *subs, const char *prefix)
{
	char name[64];

	for (; subs->name; subs++) {
		snprintf(name, sizeof(name), "%s%s%s", prefix, subs->name, subs->subs ? " " : "");
		if (subs->subs)
			list_subs(f, subs->subs, name);	/* a group: "bench dispatch", ... */
		else
			fprintf(f, "  %-20s %s\n", name, subs->summary);
	}
}

static void print_help(FILE *f, const struct cli_cmd *c, const struct table *t)
{
	char left[64], arg[48], def[48];
	int i;

	fprintf(f, "usage: %s%s%s\n", c->name, c->subs ? " <command>" : "",
		t->n > 1 ? " [options]" : "");
	/* the summary as a sentence: a table's line starts small and has no stop */
	fprintf(f, "\n%c%s.\n", toupper((unsigned char)c->summary[0]), c->summary + 1);
	if (c->about)
		fprintf(f, "%s\n", c->about);
	if (c->subs) {
		fprintf(f, "\ncommands:\n");
		list_subs(f, c->subs, "");
	}
	if (t->n)
		fprintf(f, "\noptions:\n");
	for (i = 0; i < t->n; i++) {
		const struct cli_opt *o = t->o[i];

		snprintf(arg, sizeof(arg), "%s%s", o->arg ? " " : "", o->arg ? o->arg : "");
		if (o->key && o->name)
			snprintf(left, sizeof(left), "-%c, --%s%s", o->key, o->name, arg);
		else if (o->key)
			snprintf(left, sizeof(left), "-%c%s", o->key, arg);
		else
			snprintf(left, sizeof(left), "    --%s%s", o->name, arg);
		fprintf(f, "  %-24s %s%s\n", left, o->help,
			o->dst ? default_of(o, def, sizeof(def)) : "");
	}
	if (c->subs)
		fprintf(f, "\n'%s <command> --help' tells more.\n", c->name);
}

/* ---- parsing ---- */

/* the option getopt refused as argv[optind - 1] or optopt says */
static int refused(const struct cli_cmd *c, const struct table *t, char **argv)
{
	const char *word = argv[optind - 1];
	const struct cli_opt *o = by_key(t, optopt);
	char l[64], w[96], amb[128];
	size_t n, at = 0;
	int i, hits = 0;

	if (o && o->name && !strncmp(word, "--", 2))	/* --json=1 */
		return cli_error(c, "%s takes no value", label(o, l, sizeof(l)));
	if (optopt)
		return cli_error(c, "unknown option '-%c'%s", optopt, whose(c, w, sizeof(w)));
	n = strcspn(word + 2, "=");
	for (i = 0; i < t->n; i++)
		if (t->o[i]->name && !strncmp(t->o[i]->name, word + 2, n) && at < sizeof(amb)) {
			at += (size_t)snprintf(amb + at, sizeof(amb) - at, "%s--%s", hits ? ", " : "",
					       t->o[i]->name);
			hits++;
		}
	if (hits > 1)
		return cli_error(c, "option '%.*s' is ambiguous%s: %s", (int)n + 2, word,
				 whose(c, w, sizeof(w)), amb);
	return cli_error(c, "unknown option '%.*s'%s", (int)n + 2, word, whose(c, w, sizeof(w)));
}

int cli_parse(const struct cli_cmd *c, const struct cli_opt *opts, int argc, char **argv)
{
	struct option lo[CLI_MAX_OPTS + 2];
	char shorts[2 * CLI_MAX_OPTS + 8], l[64], w[96], why[96];
	const struct cli_opt *o;
	const char *bad;
	struct table t;
	int i, nl = 0, ns, ch;

	table_of(opts, &t);
	ns = 0;
	if (c->subs)
		shorts[ns++] = '+';	/* a group stops at its first operand, the command */
	shorts[ns++] = ':';	/* a missing value comes back as ':', not '?' */
	for (i = 0; i < t.n; i++) {
		o = t.o[i];
		if (o->name)
			lo[nl++] = (struct option){ o->name, o->arg ? required_argument : no_argument,
						    NULL, key_of(&t, i) };
		if (o->key) {
			shorts[ns++] = (char)o->key;
			if (o->arg)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = 0;
	lo[nl] = (struct option){ 0 };
	optind = 0;	/* start afresh: a sub-command parses after its parent */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		if (ch == '?')
			return refused(c, &t, argv);
		o = by_key(&t, optopt);
		if (ch == ':')
			return cli_error(c, "%s needs a value (%s)", label(o, l, sizeof(l)), o->arg);
		o = by_key(&t, ch);
		if (o == &help_opt) {
			print_help(stdout, c, &t);
			return 0;
		}
		bad = take(o, optarg, why, sizeof(why));
		if (bad)
			return cli_error(c, "%s: '%s' is not %s", label(o, l, sizeof(l)), optarg, bad);
	}
	if (!c->subs && optind < argc)
		return cli_error(c, "unexpected argument '%s'%s", argv[optind], whose(c, w, sizeof(w)));
	return CLI_RUN;
}

int cli_run_sub(const struct cli_cmd *c, int argc, char **argv)
{
	const struct cli_sub *s;
	struct cli_cmd self;
	struct table t;
	char name[96], w[96];
	int rc;

	if (argc < 1) {	/* no command: the commands there are, where a mistake shows */
		t.n = 0;
		print_help(stderr, c, &t);
		return 2;
	}
	for (s = c->subs; s->name; s++)
		if (!strcmp(s->name, argv[0]))
			break;
	if (!s->name)
		return cli_error(c, "unknown command '%s'%s", argv[0], whose(c, w, sizeof(w)));
	snprintf(name, sizeof(name), "%s %s", c->name, s->name);
	self = (struct cli_cmd){ name, s->summary, s->about, s->subs };
	if (s->run)
		return s->run(&self, argc, argv);
	rc = cli_parse(&self, NULL, argc, argv);
	return rc != CLI_RUN ? rc : cli_run_sub(&self, argc - optind, argv + optind);
}
