# SPDX-License-Identifier: MIT
"""run() and the Orchestrator: submit, tensors, scalars, scopes, alloc, errors."""
import os
import signal
import struct
import threading
import time

import numpy as np
import pytest

import simpler
from conftest import make_worker


def shared(w, n, dtype=np.float32):
    """Memory every mode can use: registered (kept alive by the worker)."""
    a = np.zeros(n, dtype=dtype)
    w.register_host(a)
    return a


def test_run_passes_args_and_returns(worker):
    got = []
    assert worker.run(lambda o, a, b: got.append((type(o).__name__, a, b)) or a + b,
                      3, 4) == 7
    assert got == [("Orchestrator", 3, 4)]
    assert worker.run(lambda o: None) is None


def test_tasks_run_in_dependency_order(worker):
    # a chain of Python kernels, each reading what the one before wrote
    def step(args):
        x, = args.tensors
        x[:] = x * 2 + args.scalars[0]
    k = worker.register("step", step)
    worker.start()
    x = shared(worker, 256, np.int64)
    worker.run(lambda o: [o.submit(k, inouts=[x], scalars=[i]) for i in range(10)])
    want = 0
    for i in range(10):
        want = want * 2 + i
    assert (x == want).all() and want == 1013


def test_c_and_python_kernels_together(worker, kern):
    vadd = worker.register("vadd", kern("pk_vadd"))

    def double(args):
        x, y = args.tensors
        y[:] = 2 * x
    dbl = worker.register("double", double)
    worker.start()
    x = shared(worker, 1000)
    y = shared(worker, 1000)
    z = shared(worker, 1000)
    x[:] = np.arange(1000)

    def orch(o):
        o.submit(dbl, inputs=[x], outputs=[y], sub=True)
        o.submit(vadd, inputs=[x, y], outputs=[z])           # waits for double
    worker.run(orch)
    assert np.array_equal(z, 3 * np.arange(1000, dtype=np.float32))


def test_orchestration_exception_propagates_and_tasks_finish(worker, kern):
    add = worker.register("add", kern("pk_add"))
    worker.start()
    x = shared(worker, 16)

    class Stop(Exception):
        pass

    def orch(o):
        o.submit(add, inouts=[x], scalars=[1.5])
        raise Stop("from the orchestration")
    with pytest.raises(Stop, match="from the orchestration"):
        worker.run(orch)
    assert (x == 1.5).all()              # the task submitted before still ran
    worker.run(lambda o: o.submit(add, inouts=[x], scalars=[1.0]))
    assert (x == 2.5).all()


def test_scalars_ints_negative_floats(worker):
    seen = []

    def k(args):
        out, = args.tensors
        out[:len(args.scalars)] = np.array(args.scalars, dtype=np.uint64)
    kid = worker.register("k", k)
    worker.start()
    out = shared(worker, 8, np.uint64)
    worker.run(lambda o: o.submit(kid, outputs=[out], scalars=[7, -1, 2.5, True, 2**64 - 1]))
    assert list(out[:5]) == [7, 2**64 - 1, struct.unpack("<Q", struct.pack("<d", 2.5))[0], 1,
                             2**64 - 1]
    with pytest.raises(OverflowError, match=r"scalars\[0\]"):
        worker.run(lambda o: o.submit(kid, outputs=[out], scalars=[2**64]))
    with pytest.raises(TypeError, match=r"scalars\[1\]: an int or a float"):
        worker.run(lambda o: o.submit(kid, outputs=[out], scalars=[1, "x"]))
    with pytest.raises(ValueError, match="at most 127"):
        worker.run(lambda o: o.submit(kid, outputs=[out], scalars=[0] * 128))
    del seen


def test_float_scalar_reaches_a_c_kernel(worker, kern):
    add = worker.register("add", kern("pk_add"))
    worker.start()
    x = shared(worker, 4)
    worker.run(lambda o: o.submit(add, inouts=[x], scalars=[0.25]))
    assert list(x) == [0.25] * 4


DTYPES = (np.float32, np.float16, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_)


def test_dtypes_and_shapes_reach_the_kernel(worker):
    # what the kernel sees comes back through its last tensor (a chip process is another
    # process: only the tensors are shared)
    def k(args):
        rep, *ts = args.tensors           # outputs before inouts
        for i, t in enumerate(ts):
            rep[i] = [[np.dtype(d) for d in DTYPES].index(t.dtype), t.shape[0], t.shape[1],
                      t.flags["C_CONTIGUOUS"]]
        ts[0][...] = 9                    # the kernel writes through its views
    kid = worker.register("k", k)
    worker.start()
    arrs = [shared(worker, 12, dt).reshape(3, 4) for dt in DTYPES]
    rep = shared(worker, 4 * len(DTYPES), np.int64).reshape(len(DTYPES), 4)
    worker.run(lambda o: o.submit(kid, inouts=arrs, outputs=[rep]))
    for i, a in enumerate(arrs):
        assert list(rep[i]) == [i, 3, 4, 1], a.dtype
    assert (arrs[0] == 9).all()


def test_strided_views_go_without_copies(worker, kern):
    s2d = worker.register("sum2d", kern("pk_sum2d"))
    def k(args):
        rep, t = args.tensors             # outputs before inouts
        rep[:] = [t.shape[0], t.strides[0]]
        t[...] = -1                       # writes only the view's elements
    kid = worker.register("k", k)
    worker.start()
    m = np.arange(64 * 48, dtype=np.float32).reshape(64, 48)
    worker.register_host(m)
    out = shared(worker, 1, np.float64)
    tile = m[8:24, 16:40]                 # a tile: rows of 24 of 48
    col = m[:, 5]                         # a column
    tr = m[:16, :16].T                    # transposed
    worker.run(lambda o: [o.submit(s2d, inputs=[tile], outputs=[out])])
    assert out[0] == tile.sum()
    worker.run(lambda o: [o.submit(s2d, inputs=[tr], outputs=[out])])
    assert out[0] == tr.sum()
    ref = m.copy()
    rep = shared(worker, 2, np.int64)
    worker.run(lambda o: o.submit(kid, inouts=[col], outputs=[rep]))
    ref[:, 5] = -1
    assert np.array_equal(m, ref)         # the column only, in place
    assert list(rep) == [64, 48 * 4]      # a strided array over the same memory
    with pytest.raises(ValueError, match=r"inputs\[0\]: stride -1 in dim 0"):
        worker.run(lambda o: o.submit(s2d, inputs=[m[0, ::-1]], outputs=[out]))
    with pytest.raises(ValueError, match=r"inputs\[0\]: stride 0"):
        worker.run(lambda o: o.submit(s2d, inputs=[np.broadcast_to(m[0], (4, 48))],
                                      outputs=[out]))


def test_bad_tensors_raise_clearly(worker, kern):
    e = worker.register("e", kern("pk_empty"))
    worker.start()
    x = shared(worker, 4)
    with pytest.raises(TypeError, match=r"inputs\[1\]: a tensor must support the buffer "
                       r"protocol or __dlpack__.*not 'list'"):
        worker.run(lambda o: o.submit(e, inputs=[x, [1, 2]]))
    with pytest.raises(TypeError, match="outputs is a list or tuple of tensors"):
        worker.run(lambda o: o.submit(e, outputs=x))
    ro = np.frombuffer(b"\0" * 64, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"outputs\[0\]: 'numpy.ndarray' is read-only"):
        worker.run(lambda o: o.submit(e, outputs=[ro]))
    with pytest.raises(TypeError, match=r"inputs\[0\]: element format 'Zf'"):
        worker.run(lambda o: o.submit(e, inputs=[np.zeros(2, np.complex64)]))
    with pytest.raises(ValueError, match="6 dims"):
        worker.run(lambda o: o.submit(e, inputs=[np.zeros((1,) * 6, np.float32)]))
    with pytest.raises(simpler.NotFound, match="no kernel named 'nope'"):
        worker.run(lambda o: o.submit("nope"))
    with pytest.raises(TypeError, match="unexpected keyword argument 'input'"):
        worker.run(lambda o: o.submit(e, input=[x]))
    with pytest.raises(simpler.InvalidArgument, match="callable 77"):
        worker.run(lambda o: o.submit(77))
    # the library's own checks, its message: two overlapping outputs of one task
    with pytest.raises(simpler.InvalidArgument, match="overlap"):
        worker.run(lambda o: o.submit(e, outputs=[x, x[1:]]))
    worker.run(lambda o: o.submit(e, inputs=[x]))      # nothing lost


def test_strings_without_utf8_refused(worker):
    k = worker.register("k", lambda args: None)
    worker.start()
    x = shared(worker, 4)
    with pytest.raises(ValueError, match=r"args\[0\]: access '\\udcff' is none of simpler.IN"):
        worker.run(lambda o: o.submit(k, args=[(x, "\udcff")]))
    with pytest.raises(simpler.NotFound, match=r"submit: no kernel named '\\udcff' \(register "
                       r"it first\)"):
        worker.run(lambda o: o.submit("\udcff"))
    with pytest.raises(simpler.NotFound, match=r"callable: no kernel named '\\udcff'"):
        worker.callable("\udcff")
    worker.run(lambda o: o.submit(k, args=[(x, "in")]))      # nothing lost


def test_args_pairs_and_access_names(worker):
    # the kernel reports the order it sees the tensors in: what each held, through the
    # last one, and its place, written into each (a chip process shares only their memory)
    def k(args):
        *ts, order = args.tensors
        for i, t in enumerate(ts):
            order[i] = t[0]
            t[1] = 10 + i
    kid = worker.register("k", k)
    worker.start()
    a, b, c, d, e, order = (shared(worker, 6, np.int64) for _ in range(6))
    a[0], c[0], d[0], e[0] = 1, 3, 4, 5
    worker.run(lambda o: o.submit(kid, inputs=[a], outputs=[b], inouts=[c], args=[
        (d, simpler.INOUT), (e, "no_dep"), (order, "out")]))
    # inputs, outputs, inouts, then args in their order (an output's old bytes are not read)
    assert order[0] == 1 and list(order[2:5]) == [3, 4, 5]
    assert (b[1], c[1], d[1]) == (11, 12, 13)
    worker.run(lambda o: o.submit(kid, args=[(d, simpler.INOUT), (a, "in"), (order, simpler.OUT)]))
    assert list(order[:2]) == [4, 1] and d[1] == 10
    with pytest.raises(ValueError, match=r"args\[0\]: access 'read'"):
        worker.run(lambda o: o.submit(kid, args=[(a, "read")]))


def test_orchestrator_only_valid_during_its_run(worker, kern):
    e = worker.register("e", kern("pk_empty"))
    kept = []
    worker.run(lambda o: kept.append(o))
    with pytest.raises(simpler.InvalidArgument, match="only valid while its orchestration"):
        kept[0].submit(e)
    with pytest.raises(simpler.Busy, match="already in progress"):
        worker.run(lambda o: worker.run(lambda o2: None))
    assert kept[0].worker is worker


def test_scopes_and_alloc(worker, kern):
    add = worker.register("add", kern("pk_add"))

    def copy(args):
        src, dst = args.tensors
        dst[:] = src
    cp = worker.register("copy", copy)
    worker.start()
    # what the scoped memory held when its tasks ran, copied out to registered memory
    seen = shared(worker, 256, np.float32)
    seen_m = shared(worker, 32, np.int32)
    res = []

    def orch(o):
        with o.scope():
            t = o.alloc(256, np.float32)
            assert t.shape == (256,) and t.dtype == np.float32
            t[:] = 1
            o.submit(add, inouts=[t], scalars=[2.0])
            o.submit(cp, inputs=[t], outputs=[seen])         # after the add: 3
            b = o.alloc(100)
            assert b.dtype == np.uint8 and b.nbytes == 100
            m = o.alloc((4, 8), "int32")
            assert m.shape == (4, 8) and m.dtype == np.int32
            m[:] = np.arange(32).reshape(4, 8)
            o.submit(cp, inputs=[m], outputs=[seen_m.reshape(4, 8)], sub=True)
        o.scope_begin()
        o.scope_end()
        with pytest.raises(simpler.InvalidArgument, match="scope_end without a matching"):
            o.scope_end()
        o2 = o.alloc(64, "float32")
        o2[:] = 5
        o.submit(add, inouts=[o2], scalars=[1.0])
        res.append(o2)
    worker.run(orch)
    assert (seen == 3).all()
    assert np.array_equal(seen_m, np.arange(32, dtype=np.int32))
    # the run's outermost memory, read right after the run as in the test below
    assert res[0].shape == (64,) and (res[0] == 6).all()


def test_alloc_memory_is_what_the_kernels_see(worker, kern):
    add = worker.register("add", kern("pk_add"))
    out = []

    def orch(o):
        t = o.alloc(1024, "float32")
        t[:] = np.arange(1024)
        o.submit(add, inouts=[t], scalars=[1.0], chip=1)
        o.submit(add, inouts=[t], scalars=[1.0], sub=True)
        out.append(t)
    worker.run(orch)
    # read right after the run, before any other run reuses the memory
    assert np.array_equal(out[0], np.arange(1024, dtype=np.float32) + 2)


def test_ctrl_c_is_delivered_when_the_tasks_end(mode, kern):
    # what run()'s docstring says: the wait for the tasks runs no Python code, so
    # KeyboardInterrupt comes when they ended (a hanging kernel cannot be interrupted)
    with make_worker(mode) as w:
        k = w.register("sleep", kern("pk_sleep"))
        w.start()
        t0 = []

        def orch(o):
            o.submit(k, scalars=[600000])       # 0.6 s
            t0.append(time.monotonic())
            threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            w.run(orch)
        assert time.monotonic() - t0[0] >= 0.55
        assert w.run(lambda o: 5) == 5 and w.stats()["tasks_failed"] == 0
