// SPDX-License-Identifier: MIT
/* simpler_args: a reusable list of tensors with access tags, and scalars. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "internal.h"

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
}

SIMPLER_API int simpler_args_add_tensor(struct simpler_args *a, const struct simpler_tensor *t,
					enum simpler_access acc)
{
	char why[128];

	if (!a || !t || (unsigned)acc > SIMPLER_NO_DEP)
		return -EINVAL;
	if (a->nr_tensors >= SIMPLER_MAX_TENSORS)
		return -E2BIG;
	if (tensor_check(t, why, sizeof(why)))
		return -EINVAL;
	a->tensors[a->nr_tensors] = *t;
	a->acc[a->nr_tensors] = (uint8_t)acc;
	return (int)a->nr_tensors++;
}

SIMPLER_API int simpler_args_add_scalar(struct simpler_args *a, uint64_t v)
{
	if (!a)
		return -EINVAL;
	if (a->nr_scalars >= SIMPLER_MAX_SCALARS)
		return -E2BIG;
	a->scalars[a->nr_scalars] = v;
	return (int)a->nr_scalars++;
}

SIMPLER_API int simpler_args_nr_tensors(const struct simpler_args *a)
{
	return a ? (int)a->nr_tensors : -EINVAL;
}

SIMPLER_API int simpler_args_nr_scalars(const struct simpler_args *a)
{
	return a ? (int)a->nr_scalars : -EINVAL;
}
