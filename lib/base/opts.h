/* SPDX-License-Identifier: MIT */
/*
 * Size-first options structs (libbpf's OPTS): every struct the API takes or
 * fills starts with `size_t sz`, the caller's sizeof.  One rule for all:
 * - in (worker opts, submit opts): fields past the caller's sz read as 0;
 *   a longer struct than this library knows is accepted when its unknown
 *   bytes are zero, else -E2BIG; sz must cover at least the sz field;
 * - out (stats, chip context): the library fills the caller's sz bytes,
 *   zeroing what it does not know, and leaves sz as the caller set it.
 * Defaults apply where a field reads 0, in one place per struct.
 */
#ifndef SIMPLER_BASE_OPTS_H
#define SIMPLER_BASE_OPTS_H

#include <stddef.h>

/* read an options field through its struct's declared size */
#define OPTS_HAS(o, f) ((o) && (o)->sz >= offsetof(__typeof__(*(o)), f) + sizeof((o)->f))
#define OPTS_GET(o, f, def) (OPTS_HAS(o, f) ? (o)->f : (def))
/* the field, or def where it reads 0 */
#define OPTS_OR(o, f, def) (OPTS_GET(o, f, 0) ? OPTS_GET(o, f, 0) : (def))

/*
 * Check an options struct passed in (NULL: every default) whose type is
 * known bytes long here.  0, or -EINVAL / -E2BIG with a message naming
 * what and type in buf (NULL: the calling thread's last message).
 */
int sx_opts_in(const void *o, size_t known, const char *what, const char *type, char *buf);
/*
 * Fill dst, the caller's struct, from src (known bytes, sz first).  0, or
 * -EINVAL with a message in buf when dst is NULL or its sz cannot hold sz.
 */
int sx_opts_out(void *dst, const void *src, size_t known, const char *what, const char *type,
		char *buf);

#endif /* SIMPLER_BASE_OPTS_H */
