/* SPDX-License-Identifier: MIT */
/*
 * Host memory the chip and sub processes can use (DESIGN §3.6).  A host
 * tensor of a task must be inherited shared memory (MAP_SHARED, memfd,
 * SysV, simpler_orch_alloc) mapped before the fork, or inside a buffer
 * registered with simpler_host_register().  Two backends behind one ops
 * table (hm.h):
 *
 * - kmod: simpler.ko pins registered buffers; children map them lazily
 *   (LOOKUP + mmap, at the parent's address when free, else translated):
 *   zero copies.  Visibility of the rest comes from SIMPLER_IOC_QUERY.
 * - shm: each registered buffer gets a mirror in a shared arena mapped
 *   before the fork; tasks use the mirror.  What a task may read is copied
 *   in at submit unless the run already put it there; what tasks wrote is
 *   copied back at the end of the run.  Visibility of the rest comes from
 *   /proc/self/maps snapshots (mapsnap.h).
 *
 * In thread mode everything is visible and registration is bookkeeping.
 */
#ifndef SIMPLER_HOSTMEM_H
#define SIMPLER_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "include/simpler.h"

struct simpler_worker;

int sx_hostmem_init(struct simpler_worker *w, unsigned want, uint64_t mirror_size);
void sx_hostmem_fini(struct simpler_worker *w);
const char *sx_hostmem_name(const struct simpler_worker *w);
/*
 * Before forking child slot: the shm backend records what it inherits (the
 * same snapshot as slot same_as when forked in the same batch; -1: take one).
 */
int sx_hostmem_prefork(struct simpler_worker *w, int slot, int same_as);

/*
 * Submit time: may host tensor idx, spanning [a, a + len) (a view's span;
 * gaps: bytes in it the view does not cover), be given to a chip or sub
 * process?  For a tensor inside a registered buffer *reg is set to what the
 * dispatch needs (0 for inherited memory): kmod, the kernel handle of the
 * buffer (the child maps it); shm, the distance from the buffer to its
 * mirror (the child adds it).  0, or -errno with the worker's message set.
 */
int sx_hostmem_submit(struct simpler_worker *w, uint64_t a, uint64_t len, bool gaps,
		      unsigned acc, uint32_t idx, uint64_t *reg);
/*
 * Submit time, any mode: may host tensor idx, written with acc over
 * [a, a + len), be written?  Every byte must be mapped writable in the
 * application now (chips inherit its mappings; staging and the shm mirror
 * copy back into them).  0, or -EFAULT with the worker's message set.
 */
int sx_hostmem_check_write(struct simpler_worker *w, uint64_t a, uint64_t len, unsigned acc,
			   uint32_t idx);
void sx_hostmem_run_begin(struct simpler_worker *w);
void sx_hostmem_run_end(struct simpler_worker *w);

/* the fd children map registered buffers through (kmod), or -1 (see chip/hostmap.h) */
int sx_hostmem_child_fd(const struct simpler_worker *w);

#endif /* SIMPLER_HOSTMEM_H */
