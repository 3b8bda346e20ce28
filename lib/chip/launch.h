/* SPDX-License-Identifier: MIT */
/*
 * The chip side of a launch, shared by the thread mode (an executor thread
 * runs it) and the process mode (a chip or sub process runs it): stage host
 * tensors when the chip cannot read host memory, launch over block_dim
 * blocks, copy written tensors back, say where a failure happened.
 */
#ifndef SIMPLER_CHIP_LAUNCH_H
#define SIMPLER_CHIP_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

struct exec_ctx;
struct boot;

struct chipside {
	const struct simpler_platform_ops *plat;
	struct simpler_chip *chip;	/* NULL: a sub worker, kernels get host pointers */
	unsigned caps;
	int index;
	bool node;			/* an L3 node of an L4: launches run node fns */
	char where[48];			/* "chip 1", "chip 1 (pid 4242)", "node 1", "sub 0" */
	struct exec_ctx *ctx;		/* launch scratch */
	const struct boot *boot;	/* a bootstrapped chip: its buffers to store */
};

struct launch {
	simpler_kernel_fn fn;
	const char *name;		/* the kernel's registered name */
	uint64_t seq;			/* the task's number in its run */
	uint32_t block_dim;
	uint32_t nt, ns;
	const struct simpler_tensor *tensors;
	const uint8_t *acc;
	const uint64_t *scalars;
	/* per tensor: a view's strides, [0] == 0 for a plain tensor; NULL: no views */
	const uint64_t (*strides)[SIMPLER_MAX_DIMS];
};

/* kind: "chip", "node" or "sub", for messages; pid 0: a thread of the application */
int sx_chipside_init(struct chipside *cs, const struct simpler_platform_ops *plat,
		     struct simpler_chip *chip, unsigned caps, const char *kind, int index,
		     int pid);
void sx_chipside_fini(struct chipside *cs);
/*
 * Run l on this chip or sub.  0, or -errno with a complete message
 * ("chip 1: kernel 'vadd' (task #7, block 0 of 1) returned -22 ...") in msg.
 * On a node, l is a node fn, run by the platform as one run of the node's
 * L3 worker ("node 1 (pid 4242): node fn 'step' (task #7): chip 0: ...").
 * *staged: host bytes copied to and from chip memory.
 */
int sx_chipside_launch(struct chipside *cs, const struct launch *l, char *msg, size_t len,
		       uint64_t *staged);

#endif /* SIMPLER_CHIP_LAUNCH_H */
