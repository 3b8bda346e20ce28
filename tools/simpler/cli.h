/* SPDX-License-Identifier: MIT */
/*
 * The command line of the simpler command (cli.c).  A command describes its
 * options in a table, one struct cli_opt each, and cli_parse() reads them
 * with getopt_long(), answers --help on stdout, and names whatever it
 * refuses on stderr (exit status 2).  The commands themselves, their names
 * and what they do, are a table of struct cli_sub (main.c); cli_run_sub()
 * finds one by name and runs it.
 */
#ifndef SIMPLER_CLI_H
#define SIMPLER_CLI_H

enum cli_type {
	CLI_FLAG,	/* no value: *(int *)dst = 1 */
	CLI_INT,	/* int, within [min, max] */
	CLI_U32,	/* uint32_t, within [min, max] */
	CLI_U64,	/* uint64_t, within [min, max] */
	CLI_DOUBLE,	/* double, within [min, max] */
	CLI_CHOICE,	/* one word of choices: *(int *)dst = its index */
	CLI_FN,		/* fn(value, dst); value is NULL when arg is */
};

struct cli_opt {
	const char *name;	/* the long name without its dashes; NULL for none */
	int key;		/* the short letter; 0 for none */
	const char *arg;	/* what the value is called in --help; NULL: takes none */
	const char *help;	/* one short line */
	enum cli_type type;
	void *dst;
	double min, max;	/* numbers: the range accepted; max 0: no upper bound */
	const char *const *choices;	/* CLI_CHOICE: the words, NULL-terminated */
	/* CLI_FN: NULL when taken, else what the value is not ("a list of numbers") */
	const char *(*fn)(const char *value, void *dst);
};

/* the options every command has; a table ends with CLI_END */
#define CLI_END { NULL, 0, NULL, NULL, CLI_FLAG, NULL, 0, 0, NULL, NULL }
#define CLI_JSON(dst) { "json", 0, NULL, "print one JSON object on stdout instead of the table", \
			CLI_FLAG, (dst), 0, 0, NULL, NULL }
#define CLI_REPS(dst) { "reps", 0, "R", "repetitions whose median is reported, 1..16", CLI_INT, \
			(dst), 1, 16, NULL, NULL }

/* -n where a benchmark has nothing to count: taken, so one argument list fits every bench */
#define CLI_N_UNUSED(dst) { NULL, 'n', "N", "ignored (every benchmark takes -n)", CLI_U64, (dst), \
			    4, 0, NULL, NULL }

struct cli_sub;

/* a command as cli_run_sub() hands it to its run function */
struct cli_cmd {
	const char *name;	/* the whole command: "simpler bench work" */
	const char *summary;	/* one line */
	const char *about;	/* more lines for --help, or NULL */
	const struct cli_sub *subs;	/* sub-commands, ending with a NULL name; or NULL */
};

struct cli_sub {
	const char *name;	/* "work" */
	const char *summary;	/* one line, in the parent's --help and its own */
	const char *about;	/* more lines for its --help, or NULL */
	int (*run)(const struct cli_cmd *self, int argc, char **argv);	/* argv[0]: the name */
	const struct cli_sub *subs;	/* a group ("bench") instead of run */
};

/* cli_parse() read every option: go on with the command */
#define CLI_RUN (-1)

/*
 * Read argv[1..] against opts (NULL: none but --help): CLI_RUN when the
 * command should run, 0 after --help, 2 after an error it printed.  A
 * command with subs stops at its first operand and leaves optind there;
 * one without refuses operands.
 */
int cli_parse(const struct cli_cmd *c, const struct cli_opt *opts, int argc, char **argv);

/* run the sub-command argv[0] of c; a group reads its own --help and goes on down */
int cli_run_sub(const struct cli_cmd *c, int argc, char **argv);

/* "simpler: <message>; see <c->name> --help" on stderr; returns 2 */
int cli_error(const struct cli_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* SIMPLER_CLI_H */
