// SPDX-License-Identifier: MIT
/* simpler_args: a reusable list of tensors with access tags, and scalars. */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	a->nr_views = 0;
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

/* what adding a tensor and adding a view check alike: 0 or the refusal */
static int add_check(struct simpler_args *a, const void *x, enum simpler_access acc,
		     const char *fn, const char *what)
{
	if (!a)
		return refuse(a, -EINVAL, "%s: args is NULL", fn);
	if (!x)
		return refuse(a, -EINVAL, "%s: %s %u is NULL", fn, what, a->nr_tensors);
	if ((unsigned)acc > SIMPLER_NO_DEP)
		return refuse(a, -EINVAL, "%s: %s %u: access %u is unknown (SIMPLER_IN.."
			      "SIMPLER_NO_DEP)", fn, what, a->nr_tensors, (unsigned)acc);
	if (a->nr_tensors >= SIMPLER_MAX_TENSORS)
		return refuse(a, -E2BIG, "%s: more than %d tensors and views", fn,
			      SIMPLER_MAX_TENSORS);
	return 0;
}

SIMPLER_API int simpler_args_add_tensor(struct simpler_args *a, const struct simpler_tensor *t,
					enum simpler_access acc)
{
	char why[128];
	int ret = add_check(a, t, acc, "simpler_args_add_tensor", "tensor");

	if (ret)
		return ret;
	if (sx_tensor_check(t, why, sizeof(why)))
		return refuse(a, -EINVAL, "simpler_args_add_tensor: tensor %u: %s",
			      a->nr_tensors, why);
	a->tensors[a->nr_tensors] = *t;
	a->acc[a->nr_tensors] = (uint8_t)acc;
	if (a->nr_views)
		a->strides[a->nr_tensors][0] = 0;
	return (int)a->nr_tensors++;
}

/* do the strides say row-major for this shape?  Then the view is a plain tensor */
static bool rowmajor(const struct simpler_view *v)
{
	uint64_t rm[SIMPLER_MAX_DIMS];
	uint32_t d;

	sx_rowmajor_strides(&v->t, rm);
	for (d = 0; d < v->t.ndims; d++)
		if (v->t.shape[d] > 1 && rm[d] != v->strides[d])
			return false;
	return true;
}

SIMPLER_API int simpler_args_add_view(struct simpler_args *a, const struct simpler_view *v,
				      enum simpler_access acc)
{
	uint32_t i, d;
	char why[128];
	int ret = add_check(a, v, acc, "simpler_args_add_view", "view");

	if (ret)
		return ret;
	if (sx_view_check(v, why, sizeof(why)))
		return refuse(a, -EINVAL, "simpler_args_add_view: view %u: %s", a->nr_tensors,
			      why);
	i = a->nr_tensors;
	a->tensors[i] = v->t;
	a->tensors[i].addr += v->offset * simpler_dtype_size(v->t.dtype);
	a->acc[i] = (uint8_t)acc;
	if (rowmajor(v)) {
		if (a->nr_views)
			a->strides[i][0] = 0;
		return (int)a->nr_tensors++;
	}
	/* the first view: the tensors before it were never marked plain */
	if (!a->nr_views)
		for (d = 0; d < i; d++)
			a->strides[d][0] = 0;
	a->nr_views++;
	memcpy(a->strides[i], v->strides, sizeof(a->strides[i]));
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
