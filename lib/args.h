/* SPDX-License-Identifier: MIT */
/* The layout of simpler_args, shared by args.c and the submit path. */
#ifndef SIMPLER_ARGS_H
#define SIMPLER_ARGS_H

#include "include/simpler.h"

struct simpler_args {
	uint32_t nr_tensors, nr_scalars;
	struct simpler_tensor tensors[SIMPLER_MAX_TENSORS];
	uint8_t acc[SIMPLER_MAX_TENSORS];
	uint64_t scalars[SIMPLER_MAX_SCALARS];
	/*
	 * Views among the tensors: tensors[i] holds the view's first element
	 * and shape, strides[i] its strides.  Read only while nr_views > 0:
	 * then strides[i][0] == 0 marks a plain tensor.
	 */
	uint32_t nr_views;
	uint64_t strides[SIMPLER_MAX_TENSORS][SIMPLER_MAX_DIMS];
	/* the first refused add since the last reset: submit fails with it */
	int err;
	char why[160];
};

#endif /* SIMPLER_ARGS_H */
