// SPDX-License-Identifier: MIT
/* simpler_args: a reusable list of tensors with access tags, and scalars. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "args.h"
#include "base/errors.h"
#include "base/tensor.h"

SIMPLER_API struct simpler_args *simpler_args_new(void)
{
	struct simpler_args *a = calloc(1, sizeof(*a));

	if (!a)
		errno = ENOMEM;
	return a;
}

SIMPLER_API void simpler_args_free(struct simpler_args *a)
{
	free(a);
}

SIMPLER_API void simpler_args_reset(struct simpler_args *a)
{
	a->nr_tensors = 0;
	a->nr_scalars = 0;
	a->err = 0;
}

/*
 * A refused add: err, with the reason in simpler_last_errmsg().  The args
 * remember the first one, so a submit with them fails rather than running
 * the kernel without the argument the caller meant to pass.
 */
static int refuse(struct simpler_args *a, int err, const char *fmt, ...)
{
	char why[sizeof(a->why)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	sx_errf(NULL, err, "%s", why);
	if (a && !a->err) {
		a->err = err;
		memcpy(a->why, why, sizeof(why));
	}
	return err;
}

SIMPLER_API int simpler_args_add_tensor(struct simpler_args *a, const struct simpler_tensor *t,
					enum simpler_access acc)
{
	char why[128];

	if (!a)
		return refuse(a, -EINVAL, "simpler_args_add_tensor: args is NULL");
	if (!t)
		return refuse(a, -EINVAL, "simpler_args_add_tensor: tensor %u is NULL",
			      a->nr_tensors);
	if ((unsigned)acc > SIMPLER_NO_DEP)
		return refuse(a, -EINVAL, "simpler_args_add_tensor: tensor %u: access %u is "
			      "unknown (SIMPLER_IN..SIMPLER_NO_DEP)", a->nr_tensors, (unsigned)acc);
	if (a->nr_tensors >= SIMPLER_MAX_TENSORS)
		return refuse(a, -E2BIG, "simpler_args_add_tensor: more than %d tensors",
			      SIMPLER_MAX_TENSORS);
	if (sx_tensor_check(t, why, sizeof(why)))
		return refuse(a, -EINVAL, "simpler_args_add_tensor: tensor %u: %s",
			      a->nr_tensors, why);
	a->tensors[a->nr_tensors] = *t;
	a->acc[a->nr_tensors] = (uint8_t)acc;
	return (int)a->nr_tensors++;
}

SIMPLER_API int simpler_args_add_scalar(struct simpler_args *a, uint64_t v)
{
	if (!a)
		return refuse(a, -EINVAL, "simpler_args_add_scalar: args is NULL");
	if (a->nr_scalars >= SIMPLER_MAX_SCALARS)
		return refuse(a, -E2BIG, "simpler_args_add_scalar: more than %d scalars",
			      SIMPLER_MAX_SCALARS);
	a->scalars[a->nr_scalars] = v;
	return (int)a->nr_scalars++;
}

SIMPLER_API int simpler_args_nr_tensors(const struct simpler_args *a)
{
	return a ? (int)a->nr_tensors : sx_errf(NULL, -EINVAL, "args_nr_tensors: NULL args");
}

SIMPLER_API int simpler_args_nr_scalars(const struct simpler_args *a)
{
	return a ? (int)a->nr_scalars : sx_errf(NULL, -EINVAL, "args_nr_scalars: NULL args");
}
