/* SPDX-License-Identifier: MIT */
/*
 * A chip or sub process's view of registered host buffers (DESIGN §3.6).
 * A task frame carries, per host tensor, what the parent's hostmem put
 * there at submit: with simpler.ko, the handle of the registered buffer,
 * which this process maps on first use (LOOKUP + mmap, at the parent's
 * address when free, else elsewhere and the tensor rewritten); with the shm
 * backend, the distance from the buffer to its mirror, which is added.
 * Private to one process, single-threaded.
 */
#ifndef SIMPLER_CHIP_HOSTMAP_H
#define SIMPLER_CHIP_HOSTMAP_H

#include <stddef.h>
#include <stdint.h>

#include "simpler.h"

struct hostmap {
	int fd;				/* /dev/simpler, or -1: the shm backend */
	struct hostmap_ent *v;
	size_t n, cap;
};

/* rewrite tensors t[0..n) with reg[] to this process's view; 0, or -errno and why */
int sx_hostmap_translate(struct hostmap *m, struct simpler_tensor *t, const uint64_t *reg,
			 uint32_t n, char *why, size_t len);
/* drop this process's mapping of kernel handle kh, if any (it is being unregistered) */
void sx_hostmap_unmap(struct hostmap *m, uint64_t kh);

#endif /* SIMPLER_CHIP_HOSTMAP_H */
