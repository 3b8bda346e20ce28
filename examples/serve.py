#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The serving pattern of upstream simpler's #1190, in Python.

A server starts its chips once, then serves requests whose tensors are
allocated per request, after the chips were forked: each request's arrays
are registered (zero copies with simpler.ko, a shared mirror without it),
computed across the chips and a sub worker with every dependency inferred
from the tensors, checked, and unregistered.

Per request (n rows of a model dimension d, n varying):
    h = gelu(x @ W + b)        chips, one row block each   (C-like kernels in Python)
    y = h * scale              the sub worker, after all of them
and the answer is checked against numpy run here.

    python3 examples/serve.py [--requests 64] [--chips 4] [--threads]
"""
import argparse
import math
import time

import numpy as np

import simpler

D = 64          # model dimension


def dense_gelu(args):
    """h[rows] = gelu(x[rows] @ W + b): one row block, on a chip."""
    x, w, b, h = args.tensors
    z = x @ w + b
    h[...] = 0.5 * z * (1.0 + np.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))


def scale(args):
    """y = h * s, on the sub worker, once every row block is done."""
    h, y = args.tensors
    y[...] = h * np.float32(args.scalars[0] / 1000.0)


def reference(x, w, b, s):
    z = x @ w + b
    h = 0.5 * z * (1.0 + np.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))
    return h * np.float32(s / 1000.0)


def serve(w, weights, bias, rng, blocks):
    n = int(rng.integers(16, 512))                  # a dynamic shape
    x = rng.standard_normal((n, D), dtype=np.float32)
    h = np.empty((n, D), np.float32)
    y = np.empty((n, D), np.float32)
    s = int(rng.integers(500, 2000))
    handles = [w.register_host(t) for t in (x, h, y)]   # created after the fork
    rows = -(-n // blocks)

    def orch(o):
        for i in range(0, n, rows):
            o.submit("dense_gelu", inputs=[x[i:i + rows], weights, bias],
                     outputs=[h[i:i + rows]])
        o.submit("scale", inputs=[h], outputs=[y], scalars=[s], sub=True)
    t0 = time.perf_counter()
    w.run(orch)
    dt = time.perf_counter() - t0
    for hd in handles:
        w.unregister_host(hd)
    ok = np.allclose(y, reference(x, weights, bias, s), rtol=1e-4, atol=1e-5)
    return dt, n, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--chips", type=int, default=4)
    ap.add_argument("--threads", action="store_true", help="chips and the sub as threads")
    a = ap.parse_args()
    rng = np.random.default_rng(1190)
    with simpler.Worker(chips=a.chips, subs=1, threads=a.threads) as w:
        w.register("dense_gelu", dense_gelu)
        w.register("scale", scale)
        w.start()                                   # the chips fork here
        weights = rng.standard_normal((D, D), dtype=np.float32) / math.sqrt(D)
        bias = rng.standard_normal(D, dtype=np.float32)
        w.register_host(weights)                    # the model, registered once
        w.register_host(bias)
        lat, rows, bad = [], 0, 0
        t0 = time.perf_counter()
        for _ in range(a.requests):
            dt, n, ok = serve(w, weights, bias, rng, a.chips)
            lat.append(dt * 1e3)
            rows += n
            bad += not ok
        wall = time.perf_counter() - t0
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        print("%d requests (%d rows) on %d chips + 1 sub (%s, host memory: %s)" %
              (a.requests, rows, a.chips, "threads" if a.threads else "processes", w.hostmem))
        print("latency ms: p50 %.2f  p90 %.2f  p99 %.2f;  %.1f requests/s" %
              (p50, p90, p99, a.requests / wall))
        print("verified: %s" % ("all (%d requests)" % a.requests if not bad else
                                "%d of %d WRONG" % (bad, a.requests)))
        return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
