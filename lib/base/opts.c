// SPDX-License-Identifier: MIT
/* Size-first options structs (see opts.h). */
#include <errno.h>
#include <string.h>

#include "errors.h"
#include "opts.h"
#include "simpler.h"

int sx_opts_in(const void *o, size_t known, const char *what, const char *type, char *buf)
{
	const unsigned char *p = o;
	size_t sz, i;

	if (!o)
		return 0;
	memcpy(&sz, o, sizeof(sz));
	if (sz < sizeof(size_t))
		return sx_errf(buf, -EINVAL, "%s: opts.sz is %zu: set it to sizeof(struct %s) or "
			       "use SIMPLER_OPTS()", what, sz, type);
	for (i = known; i < sz; i++)
		if (p[i])
			return sx_errf(buf, -E2BIG, "%s: the options set fields this library (%s) "
				       "does not know (struct %s of %zu bytes; it knows %zu)", what,
				       SIMPLER_VERSION_STRING, type, sz, known);
	return 0;
}

int sx_opts_out(void *dst, const void *src, size_t known, const char *what, const char *type,
		char *buf)
{
	size_t sz;

	if (!dst)
		return sx_errf(buf, -EINVAL, "%s: NULL struct %s", what, type);
	memcpy(&sz, dst, sizeof(sz));
	if (sz < sizeof(size_t))
		return sx_errf(buf, -EINVAL, "%s: %s.sz is %zu: set it to sizeof(struct %s) or "
			       "use SIMPLER_OPTS()", what, type, sz, type);
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
	       (sz < known ? sz : known) - sizeof(size_t));
	if (sz > known)
		memset((char *)dst + known, 0, sz - known);
	return 0;
}
