/* SPDX-License-Identifier: MIT */
/*
 * The device layer: one ops table per platform.  A platform knows chips,
 * chip memory, copies and kernel launches; it knows nothing of tasks,
 * dependencies or workers.  Every call that can fail returns a negative errno
 * and writes a message (without the chip prefix) into err[errlen].
 */
#ifndef SIMPLER_PLATFORM_H
#define SIMPLER_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "simpler.h"

/* capability bits */
#define SIMPLER_PLAT_HOST_DIRECT	(1U << 0)	/* kernels may use host pointers: no staging */

struct simpler_platform_cfg {
	uint64_t mem_size;		/* bytes of chip memory to provide */
	uint32_t cores;			/* parallel block executors */
	unsigned staging;		/* sim: refuse host pointers, like a discrete device */
	uint32_t spin_us;		/* idle core threads spin this long before sleeping */
	const void *ext;		/* platform-specific (the node platform: its nodes' options) */
};

struct simpler_chip;			/* a platform's per-chip state */
struct simpler_comm;			/* a platform's comm domain */

struct simpler_platform_ops {
	const char *name;
	/* capability bits of a chip opened with cfg */
	unsigned (*caps)(const struct simpler_platform_cfg *cfg);
	int (*chip_open)(const struct simpler_platform_cfg *cfg, int index,
			 struct simpler_chip **chip, char *err, size_t errlen);
	void (*chip_close)(struct simpler_chip *chip);

	/* chip memory: provenance is checked (unknown, double, foreign frees fail) */
	int (*mem_alloc)(struct simpler_chip *chip, size_t n, uint64_t *addr, char *err,
			 size_t errlen);
	int (*mem_free)(struct simpler_chip *chip, uint64_t addr, char *err, size_t errlen);
	/* copies must stay inside one live allocation */
	int (*copy_to)(struct simpler_chip *chip, uint64_t dst, const void *src, size_t n,
		       char *err, size_t errlen);
	int (*copy_from)(struct simpler_chip *chip, void *dst, uint64_t src, size_t n,
			 char *err, size_t errlen);
	/* is [addr, addr + n) inside one live allocation of this chip? */
	int (*mem_check)(struct simpler_chip *chip, uint64_t addr, size_t n, char *err,
			 size_t errlen);

	/*
	 * Run fn over args->block_dim blocks (block_idx set per block) and wait.
	 * Returns the first failing block's error; *failed_block names it.  A
	 * launch refused before any block ran sets *failed_block to UINT32_MAX
	 * and says why in err.
	 */
	int (*launch)(struct simpler_chip *chip, simpler_kernel_fn fn,
		      const struct simpler_kernel_args *args, uint32_t *failed_block, char *err,
		      size_t errlen);

	/*
	 * Comm domains.  comm_create runs in the application before any chip
	 * starts: nranks windows of comm_window_size(window_size) bytes each
	 * (0 if the platform cannot), at addresses valid in every chip process
	 * started afterwards.  comm_attach runs on the chip: it joins rank
	 * (zeroing its window first when zero is set); afterwards the chip's
	 * kernels and copies may use any window of the domain.  comm_barrier
	 * waits until every rank arrived (-ETIMEDOUT after timeout_ms).
	 * comm_destroy releases the domain and sets *comm to NULL: a second
	 * call does nothing.
	 */
	uint64_t (*comm_window_size)(uint64_t window_size);
	int (*comm_create)(const char *domain, uint32_t nranks, uint64_t window_size,
			   struct simpler_comm **comm, char *err, size_t errlen);
	uint64_t (*comm_window)(const struct simpler_comm *comm, uint32_t rank);
	int (*comm_attach)(struct simpler_chip *chip, struct simpler_comm *comm, uint32_t rank,
			   int zero, char *err, size_t errlen);
	int (*comm_barrier)(struct simpler_comm *comm, uint32_t timeout_ms, char *err,
			    size_t errlen);
	void (*comm_destroy)(struct simpler_comm **comm);
};

/* the platform called name, or NULL */
const struct simpler_platform_ops *sx_platform_find(const char *name);
/* comma-separated names of every platform, for messages */
const char *sx_platform_names(void);

extern const struct simpler_platform_ops sx_platform_sim;

#endif /* SIMPLER_PLATFORM_H */
