# SPDX-License-Identifier: MIT
"""simpler.Worker: options, lazy start, kernels, state, closing."""
import errno
import os

import numpy as np
import pytest

import simpler
from conftest import KERN, make_worker


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
                           "host_bytes_copied", "chip_restarts", "slots_used"}
        w.run(lambda o: [o.submit(e) for _ in range(5)])
        with pytest.raises(simpler.Error):
            w.run(lambda o: o.submit(f, scalars=[5]))
        s = w.stats()
        assert s["tasks_submitted"] - s0["tasks_submitted"] == 6
        assert s["tasks_completed"] - s0["tasks_completed"] == 5
        assert s["tasks_failed"] - s0["tasks_failed"] == 1
        assert 1 <= s["slots_used"] <= 6
        assert "pk_fail was asked to fail with 5" in w.errmsg


def test_worker_in_a_reference_cycle_is_collected_and_its_chips_end():
    import gc
    import weakref
    w = make_worker("processes")
    box = [w]
    # the worker holds its kernels, the kernel its defaults, the list the worker: a cycle
    w.register("k", lambda args, box=box: None)
    w.start()
    pid = w.chip_pid(0)
    ref = weakref.ref(w)
    gc.disable()
    try:
        del w, box
        assert ref() is not None            # reference counts alone cannot free it
        os.kill(pid, 0)                     # and its chip still runs
        gc.collect()
    finally:
        gc.enable()
    assert ref() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_uninitialized_worker_refused():
    w = simpler.Worker.__new__(simpler.Worker)
    assert repr(w) == "<simpler.Worker: __init__ not called>"
    calls = {"register": lambda: w.register("a", print), "kernels": lambda: w.kernels,
             "callable": lambda: w.callable("a"), "start": w.start, "close": w.close,
             "with": w.__enter__, "run": lambda: w.run(lambda o: None),
             "malloc": lambda: w.malloc(8), "copy_to": lambda: w.copy_to(0, bytearray(4)),
             "register_host": lambda: w.register_host(np.zeros(4)), "stats": w.stats,
             "chip_pid": lambda: w.chip_pid(0), "errmsg": lambda: w.errmsg,
             "hostmem": lambda: w.hostmem, "chips": lambda: w.chips,
             "started": lambda: w.started, "closed": lambda: w.closed}
    for name, call in calls.items():
        with pytest.raises(simpler.InvalidArgument) as e:
            call()
        assert str(e.value) == "[Errno 22] %s: Worker.__init__ was not called (or failed): " \
            "make a worker with simpler.Worker(...)" % name
    # an __init__ that failed leaves it refused; one that succeeds makes it a worker
    with pytest.raises(ValueError, match="hostmem is"):
        w.__init__(hostmem="nfs")
    with pytest.raises(simpler.InvalidArgument, match="kernels: Worker.__init__ was not"):
        w.kernels
    w.__init__(threads=True)
    assert w.register("a", lambda args: None) == 0 and w.kernels == {"a": 0}
    with pytest.raises(RuntimeError, match="Worker.__init__ called twice"):
        w.__init__()
    w.close()
    with pytest.raises(RuntimeError, match="Worker.__init__ called twice"):
        w.__init__()                        # a closed worker is not made anew either
    assert w.closed


def test_uninitialized_chip_tensor_refused(kern):
    c = simpler.ChipTensor.__new__(simpler.ChipTensor)
    assert repr(c) == "<simpler.ChipTensor: __init__ not called>"
    for name in ("addr", "shape", "dtype", "nbytes"):
        with pytest.raises(simpler.InvalidArgument) as e:
            getattr(c, name)
        assert str(e.value).startswith("[Errno 22] %s: ChipTensor.__init__ was not called"
                                       % name)
    with make_worker("threads") as w:
        e = w.register("e", kern("pk_empty"))
        with pytest.raises(simpler.InvalidArgument) as ex:
            w.run(lambda o: o.submit(e, inputs=[c], chip=0))
        assert str(ex.value) == "[Errno 22] inputs[0]: ChipTensor.__init__ was not called " \
            "(or failed): make one with simpler.ChipTensor(addr, shape, dtype)"
        c.__init__(w.malloc(64), 16, "float32")
        assert (c.shape, c.dtype, c.nbytes) == ((16,), "float32", 64)
        w.run(lambda o: o.submit(e, inputs=[c], chip=0))


def test_kernel_paths_are_file_names_not_utf8(mode, tmp_path):
    # a str path is os.fsdecode() of the file's name: "\udcff" is the byte 0xff
    link = os.path.join(os.fsencode(str(tmp_path)), b"pk\xff.so")
    os.symlink(os.fsencode(KERN), link)
    with make_worker(mode) as w:
        add = w.register("add", os.fsdecode(link) + ":pk_add")
        with pytest.raises(simpler.NotFound, match=r"cannot load /nonexistent/lib\\xff\.so"):
            w.register("k", "/nonexistent/lib\udcff.so:f")
        with pytest.raises(simpler.InvalidArgument, match=r"register: kernel 'lib\\ud800.so:f' "
                           "has no file-system encoding"):
            w.register("k", "lib\ud800.so:f")
        w.start()
        x = np.zeros(8, np.float32)
        w.register_host(x)
        w.run(lambda o: o.submit(add, inouts=[x], scalars=[1.5]))
        assert (x == 1.5).all() and w.kernels == {"add": 0}
