/* SPDX-License-Identifier: MIT */
/* The serving half of simpler demo (serve.c). */
#ifndef SIMPLER_SERVE_H
#define SIMPLER_SERVE_H

#include <stdint.h>

struct simpler_worker;

/* the model's weights: call before simpler_worker_create() (inherited shared memory) */
int serve_load_model(uint32_t k, uint32_t n);
/* nreq requests of 1..max_rows rows; 0 when every one verified, > 0 if some did not */
int serve_run(struct simpler_worker *w, uint32_t nreq, uint32_t max_rows, uint64_t seed);

#endif /* SIMPLER_SERVE_H */
