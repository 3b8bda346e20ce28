/* SPDX-License-Identifier: MIT */
/*
 * Visibility without the module: /proc/self/maps (and, at fork time, the
 * VmFlags of /proc/self/smaps) read into identity tables, judged with the
 * same rules simpler.ko's QUERY uses (see uapi/linux/simpler.h): a range is
 * SHARED when every byte is a MAP_SHARED mapping whose object and offset
 * equal what every chip process was forked with.  Slower than QUERY and
 * blind to what happens inside fork, but the same contract.
 */
#ifndef SIMPLER_MAPSNAP_H
#define SIMPLER_MAPSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vma_ident {
	uint64_t start, end, off;
	uint64_t dev, ino;
	bool shared, writable, dontcopy, wipeonfork;
};

struct mapsnap {
	struct vma_ident *v;
	size_t n, cap;
};

/* read the calling process's maps; with_flags also reads smaps VmFlags */
int sx_mapsnap_take(struct mapsnap *s, bool with_flags);
void sx_mapsnap_free(struct mapsnap *s);
/*
 * The verdict (SIMPLER_VIS_*) for [a, a + len) as cur maps it, against the
 * fork-time snapshots of n members; *bad gets the first member that cannot
 * see it (-1: none).  [*lo, *hi) gets the range around it the same verdict
 * holds for (one mapping in every table), at least [a, a + len).
 */
unsigned sx_mapsnap_verdict(const struct mapsnap *cur, const struct mapsnap *const *members, int n,
			    uint64_t a, uint64_t len, int *bad, uint64_t *lo, uint64_t *hi);

/*
 * Is every byte of [a, a + len) mapped writable in s?  Then [*lo, *hi) gets
 * the writable mappings around it that follow each other without a hole.
 */
bool sx_mapsnap_writable(const struct mapsnap *s, uint64_t a, uint64_t len, uint64_t *lo,
			 uint64_t *hi);

#endif /* SIMPLER_MAPSNAP_H */
