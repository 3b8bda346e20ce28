/* SPDX-License-Identifier: MIT */
/*
 * What a chip or sub process gets from the worker: set up by the worker
 * before it forks, read-only afterwards (each process has its own copy).
 * The chip side sees the worker through this, its mailbox and the shared
 * pages, never through the worker's own structures.
 */
#ifndef SIMPLER_CHIP_ENV_H
#define SIMPLER_CHIP_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mailbox.h"
#include "platform.h"

#define MAX_PROCS 128		/* chips and subs of one worker */

struct boot;

struct chip_env {
	const struct simpler_platform_ops *plat;
	struct simpler_platform_cfg pcfg;
	unsigned caps;			/* the platform's capability bits */
	uint64_t spin_ns;		/* how long an idle process may spin */
	bool bind;			/* chip i runs on the i-th usable CPU */
	bool nodes;			/* level 4: the chip slots are L3 nodes */
	int nchips, nsubs;
	const struct shared_callables *ctab;
	const struct boot *boot;	/* chip bootstrap, or NULL */
	struct proc_shared *ps;
	struct mailbox *mb[MAX_PROCS];	/* every process's, chips first */
	int kmod_fd;			/* /dev/simpler: registered buffers to map, or -1 */
};

/*
 * The function behind a shared callable, valid in this process, or NULL
 * and why: the same object at the same address, or the object loaded here
 * and the function found at its offset.
 */
void *sx_callable_resolve(const struct shared_callable *sc, char *why, size_t len);

/* the chip or sub process of slot (chips first); never returns */
void sx_child_main(const struct chip_env *env, int slot, pid_t parent) __attribute__((noreturn));

#endif /* SIMPLER_CHIP_ENV_H */
