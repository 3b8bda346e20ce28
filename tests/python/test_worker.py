# SPDX-License-Identifier: MIT
"""simpler.Worker: options, lazy start, kernels, state, closing."""
import errno
import os

import numpy as np
import pytest

import simpler
from conftest import make_worker


def test_module_names_versions():
    assert simpler.__version__ == simpler.library_version()
    assert [int(x) for x in simpler.__version__.split(".")] >= [0, 1, 0]
    assert (simpler.IN, simpler.OUT, simpler.INOUT, simpler.OUT_EXISTING, simpler.NO_DEP) == \
        (0, 1, 2, 3, 4)
    for name in ("InvalidArgument", "OutOfMemory", "Busy", "NotFound", "Exists",
                 "AddressError", "ChipDied", "KernelError", "TimedOut"):
        assert issubclass(getattr(simpler, name), simpler.Error)
    assert issubclass(simpler.Error, OSError)
    assert issubclass(simpler.InvalidArgument, ValueError)
    assert issubclass(simpler.NotFound, LookupError)


def test_starts_lazily_and_closes(mode):
    w = make_worker(mode, chips=2, subs=1)
    assert (w.chips, w.subs, w.threads, w.started, w.closed) == (2, 1, mode == "threads",
                                                                 False, False)
    assert "not started" in repr(w)
    w.start()
    assert w.started and "started" in repr(w)
    assert w.hostmem == ("threads" if mode == "threads" else "shm")
    w.start()                       # again: nothing
    w.close()
    assert w.closed and not w.started
    w.close()                       # again: nothing
    with pytest.raises(simpler.Error, match="run: the worker is closed") as e:
        w.run(lambda o: None)
    assert e.value.errno == errno.EBADF


def test_context_manager_closes(mode):
    with make_worker(mode) as w:
        w.start()
        assert w.started
    assert w.closed


def test_chip_processes_are_forks_that_exit_on_close():
    with make_worker("processes", chips=2, subs=1) as w:
        w.start()
        pids = [w.chip_pid(0), w.chip_pid(1), w.sub_pid(0)]
        assert len(set(pids)) == 3 and os.getpid() not in pids
        for p in pids:
            os.kill(p, 0)           # alive
        with pytest.raises(simpler.InvalidArgument, match="chip 2 does not exist"):
            w.chip_pid(2)
    for p in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(p, 0)


def test_pids_in_thread_mode_refused():
    with make_worker("threads") as w:
        with pytest.raises(simpler.InvalidArgument, match="threads of this process"):
            w.chip_pid(0)


def test_bad_options():
    with pytest.raises(ValueError, match="hostmem is"):
        simpler.Worker(hostmem="nfs")
    with pytest.raises(TypeError):
        simpler.Worker(chips="four")
    # values libsimpler checks: refused at start, with its message, nothing left behind
    w = simpler.Worker(chips=100)
    with pytest.raises(simpler.InvalidArgument, match="nr_chips"):
        w.start()
    assert not w.started
    w.close()
    w = simpler.Worker(platform="tpu")
    with pytest.raises(simpler.NotFound, match="unknown platform 'tpu'"):
        w.start()
    w.close()


def test_register_ids_names_errors(mode, kern):
    with make_worker(mode) as w:
        a = w.register("vadd", kern("pk_vadd"))
        b = w.register("py", lambda args: None)
        assert (a, b) == (0, 1)
        assert w.kernels == {"vadd": 0, "py": 1}
        assert w.callable("py") == 1
        with pytest.raises(simpler.NotFound, match="no kernel named 'nope'"):
            w.callable("nope")
        with pytest.raises(simpler.Exists, match="'vadd' is already callable 0"):
            w.register("vadd", kern("pk_empty"))
        with pytest.raises(simpler.InvalidArgument, match="1..63 bytes"):
            w.register("x" * 64, kern("pk_empty"))
        with pytest.raises(simpler.InvalidArgument, match="1..63 bytes"):
            w.register("", kern("pk_empty"))
        with pytest.raises(simpler.NotFound, match="cannot load /nonexistent.so"):
            w.register("k", "/nonexistent.so:f")
        with pytest.raises(simpler.NotFound, match="has no symbol 'pk_nothing'"):
            w.register("k", kern("pk_nothing"))
        with pytest.raises(simpler.InvalidArgument, match="path/to/lib.so:symbol"):
            w.register("k", "no-colon")
        with pytest.raises(TypeError, match="a kernel is"):
            w.register("k", 42)
        w.start()
        # after the start, libsimpler hands out the ids
        assert w.register("late", kern("pk_empty")) == 2
        with pytest.raises(simpler.Exists):
            w.register("late", kern("pk_empty"))
        assert w.kernels == {"vadd": 0, "py": 1, "late": 2}


def test_stats_count_tasks(mode, kern):
    with make_worker(mode) as w:
        e = w.register("e", kern("pk_empty"))
        f = w.register("f", kern("pk_fail"))
        s0 = w.stats()
        assert set(s0) == {"tasks_submitted", "tasks_completed", "tasks_failed", "edges",
                           "tensormap_fast", "tensormap_slow", "submit_waits", "bytes_staged",
                           "host_bytes_copied", "chip_restarts"}
        w.run(lambda o: [o.submit(e) for _ in range(5)])
        with pytest.raises(simpler.Error):
            w.run(lambda o: o.submit(f, scalars=[5]))
        s = w.stats()
        assert s["tasks_submitted"] - s0["tasks_submitted"] == 6
        assert s["tasks_completed"] - s0["tasks_completed"] == 5
        assert s["tasks_failed"] - s0["tasks_failed"] == 1
        assert "pk_fail was asked to fail with 5" in w.errmsg


def test_worker_garbage_collected_closes(kern):
    import gc
    import weakref
    w = make_worker("processes")
    w.register("k", lambda args: w)          # a cycle through a kernel
    w.start()
    pid = w.chip_pid(0)
    ref = weakref.ref(w)
    del w
    gc.collect()
    assert ref() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
