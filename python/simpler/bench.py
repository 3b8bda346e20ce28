# SPDX-License-Identifier: MIT
"""python3 -m simpler.bench: what a Python orchestration costs per task,
against the same graph submitted from C in the same run.

Two measurements, each a median over --reps runs, the Python and the C run
taking turns on one worker:

orchestration  empty C kernels ("libsimpler's empty kernel") in the four
               graph shapes of `simpler bench dispatch` (indep, chain,
               diamond, stencil4), N tasks a run on one chip: microseconds
               per task of submitting (the orchestration function) and of
               the whole run, from Python and from C.  Target: Python at
               most 1.5 us per task.
callables      the indep graph on one sub worker: the C graph with the empty
               C kernel, and Python with the same C kernel and with an empty
               Python callable.  Target: the callable at most 5 us per task
               over the C path.

Tensors are 64-byte regions of shared memory mapped before the chips start
(visible to them, so no registration is involved).  Chips are processes and
threads (--modes).  Prints a table, or one JSON object with --json.  A
benchmark, not a test: on a busy machine the numbers move; compare the
Python and C columns of one run.
"""
import argparse
import json
import mmap
import os
import statistics
import sys
import time

import numpy as np

import simpler
from simpler import _simpler

SHAPES = ("indep", "chain", "diamond", "stencil4")
REGIONS, TILES = 1025, 64
R, W, RW = simpler.IN, simpler.OUT, simpler.INOUT


def shape_task(shape, i):
    """Task i of a shape: its (region, access) pairs (tools/simpler/shapes.h)."""
    k, g = i % TILES, i // TILES
    cur, nxt = (g & 1) * TILES, ((g + 1) & 1) * TILES
    if shape == "indep":
        return [(0, R), (1 + i % 1024, W)]
    if shape == "chain":
        return [(0, RW)]
    if shape == "diamond":
        return ([(0, RW)], [(0, R), (1, W)], [(0, R), (2, W)],
                [(1, R), (2, R), (0, RW)])[i % 4]
    return [(cur + (k + TILES - 1) % TILES, R), (cur + k, R),
            (cur + (k + 1) % TILES, R), (nxt + k, W)]


def c_tasks(shape, n):
    words = []
    for i in range(n):
        t = shape_task(shape, i)
        words.append(len(t))
        for region, acc in t:
            words += [region, acc]
    return np.array(words, dtype=np.int32)


def py_orch(shape, n, kernel, rg, sub=False):
    """The graph as a Python user writes it: one submit() per task."""
    def indep(o):
        t0 = time.perf_counter()
        s, r0 = o.submit, rg[0]
        for i in range(n):
            s(kernel, inputs=[r0], outputs=[rg[1 + i % 1024]], sub=sub)
        return time.perf_counter() - t0

    def chain(o):
        t0 = time.perf_counter()
        s, r0 = o.submit, rg[0]
        for _ in range(n):
            s(kernel, inouts=[r0], sub=sub)
        return time.perf_counter() - t0

    def diamond(o):
        t0 = time.perf_counter()
        s, r0, r1, r2 = o.submit, rg[0], rg[1], rg[2]
        for _ in range(n // 4):
            s(kernel, inouts=[r0], sub=sub)
            s(kernel, inputs=[r0], outputs=[r1], sub=sub)
            s(kernel, inputs=[r0], outputs=[r2], sub=sub)
            s(kernel, inputs=[r1, r2], inouts=[r0], sub=sub)
        return time.perf_counter() - t0

    def stencil4(o):
        t0 = time.perf_counter()
        s = o.submit
        for i in range(n):
            k, g = i % TILES, i // TILES
            cur, nxt = (g & 1) * TILES, ((g + 1) & 1) * TILES
            s(kernel, inputs=[rg[cur + (k + 63) % TILES], rg[cur + k],
                              rg[cur + (k + 1) % TILES]],
              outputs=[rg[nxt + k]], sub=sub)
        return time.perf_counter() - t0

    return {"indep": indep, "chain": chain, "diamond": diamond,
            "stencil4": stencil4}[shape]


def timed_py(w, orch):
    t0 = time.perf_counter()
    submit_s = w.run(orch)
    return submit_s, time.perf_counter() - t0


def empty_callable(args):
    pass


def measure(mode, n, reps, shapes, callables):
    threads = mode == "threads"
    mm = mmap.mmap(-1, REGIONS * 64)        # shared, mapped before the chips start
    buf = np.frombuffer(mm, dtype=np.uint8)
    base = buf.__array_interface__["data"][0]
    rg = [buf[i * 64:(i + 1) * 64] for i in range(REGIONS)]
    empty = "%s:spy_empty_kernel" % _simpler.__file__
    out = {"orchestration": {}, "callables": None}
    with simpler.Worker(chips=1, subs=1 if callables else 0, threads=threads) as w:
        ck = w.register("empty", empty)
        pk = w.register("empty_py", empty_callable)
        w.start()
        for shape in shapes:
            tasks = c_tasks(shape, n)
            orch = py_orch(shape, n, ck, rg)
            timed_py(w, orch)                 # warm: the run's tensors, first touches
            c, p = [], []
            for _ in range(reps):
                c.append(w._bench_c(ck, base, 64, tasks))
                p.append(timed_py(w, orch))
            out["orchestration"][shape] = {
                "c_submit": statistics.median(x[0] for x in c) / n * 1e6,
                "c_total": statistics.median(x[1] for x in c) / n * 1e6,
                "py_submit": statistics.median(x[0] for x in p) / n * 1e6,
                "py_total": statistics.median(x[1] for x in p) / n * 1e6,
            }
        if callables:
            tasks = c_tasks("indep", n)
            py_c = py_orch("indep", n, ck, rg, sub=True)
            py_py = py_orch("indep", n, pk, rg, sub=True)
            timed_py(w, py_py)
            c, pc, pp = [], [], []
            for _ in range(reps):
                c.append(w._bench_c(ck, base, 64, tasks, sub=True)[1])
                pc.append(timed_py(w, py_c)[1])
                pp.append(timed_py(w, py_py)[1])
            out["callables"] = {
                "c_orch_c_kernel": statistics.median(c) / n * 1e6,
                "py_orch_c_kernel": statistics.median(pc) / n * 1e6,
                "py_orch_py_kernel": statistics.median(pp) / n * 1e6,
            }
    del rg, buf    # the views hold the mapping; it goes with them
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m simpler.bench",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20000, help="tasks per run (default 20000)")
    ap.add_argument("--reps", type=int, default=5, help="runs per median (default 5)")
    ap.add_argument("--modes", default="threads,processes",
                    help="chips as threads and/or processes (default both)")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="graph shapes")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    a = ap.parse_args(argv)
    if a.n < 4 or a.reps < 1:
        ap.error("-n is at least 4, --reps at least 1")
    shapes = [s for s in a.shapes.split(",") if s]
    for s in shapes:
        if s not in SHAPES:
            ap.error("unknown shape %r (%s)" % (s, ", ".join(SHAPES)))
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in ("threads", "processes"):
            ap.error("unknown mode %r (threads, processes)" % m)
    res = {"tasks": a.n, "reps": a.reps, "target_py_per_task_us": 1.5,
           "target_callable_over_c_us": 5.0, "cpus": len(os.sched_getaffinity(0)),
           "modes": {}}
    for m in modes:
        res["modes"][m] = measure(m, a.n, a.reps, shapes, True)
    if a.json:
        json.dump(res, sys.stdout, indent=1)
        print()
        return 0
    print("simpler.bench: %d empty tasks per run, median of %d runs, %d CPUs, "
          "microseconds per task" % (a.n, a.reps, res["cpus"]))
    for m, r in res["modes"].items():
        print("\nchips as %s: empty C kernels on 1 chip, submitted from C and from Python" % m)
        print("%-10s %9s %9s %11s %9s %9s %8s" % ("shape", "C submit", "C total", "Py submit",
                                                  "Py total", "Py - C", "target"))
        for s, v in r["orchestration"].items():
            print("%-10s %9.3f %9.3f %11.3f %9.3f %9.3f %8.1f" %
                  (s, v["c_submit"], v["c_total"], v["py_submit"], v["py_total"],
                   v["py_total"] - v["c_total"], res["target_py_per_task_us"]))
        c = r["callables"]
        print("\nchips as %s: the indep graph on 1 sub worker" % m)
        print("  C orchestration, C kernel          %9.3f" % c["c_orch_c_kernel"])
        print("  Python orchestration, C kernel     %9.3f" % c["py_orch_c_kernel"])
        print("  Python orchestration, Python kernel %8.3f   (over C: %.3f, target %.1f)" %
              (c["py_orch_py_kernel"], c["py_orch_py_kernel"] - c["c_orch_c_kernel"],
               res["target_callable_over_c_us"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
