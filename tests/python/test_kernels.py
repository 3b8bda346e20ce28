# SPDX-License-Identifier: MIT
"""Python kernels: failures surface with their type and message, a killed chip
process, kernels registered after the chips started, KernelArgs."""
import os
import signal

import numpy as np
import pytest

import simpler
from conftest import make_worker


class Boom(Exception):
    pass


def raising(args):
    x, = args.tensors
    raise Boom("bad value %d" % x[0])


def late_kernel(args):
    """Module-level: reaches chips started before its registration, pickled."""
    x, = args.tensors
    x[:] = 42


def test_exception_surfaces_type_and_message(worker):
    k = worker.register("raising", raising)
    worker.start()
    x = np.array([7, 0], np.int64)
    worker.register_host(x)
    for where in ({"chip": 1}, {"sub": True}):
        with pytest.raises(simpler.KernelError) as e:
            worker.run(lambda o: o.submit(k, inputs=[x], **where))
        msg = str(e.value)
        assert "test_kernels.Boom: bad value 7" in msg
        assert "test_kernels.py:%d in raising" % (raising.__code__.co_firstlineno + 2) in msg
        assert "kernel 'raising'" in msg
        assert ("chip 1" if "chip" in where else "sub 0") in msg
        assert e.value.errno == 121          # EREMOTEIO
        assert msg.split("] ", 1)[1] == worker.errmsg


def test_exception_message_without_utf8(worker):
    # a message with a lone surrogate has no UTF-8 form: it travels as its ascii()
    def bad(args):
        raise ValueError("bad \udcff")
    k = worker.register("bad", bad)
    for where in ({"chip": 1}, {"sub": True}):
        with pytest.raises(simpler.KernelError) as e:
            worker.run(lambda o: o.submit(k, **where))
        assert str(e.value).endswith("ValueError: 'bad \\udcff' (%s:%d in bad)" % (
            __file__, bad.__code__.co_firstlineno + 1))


def test_builtin_exception_and_dependents_poisoned(worker, kern):
    def div(args):
        return 1 // 0
    k = worker.register("div", div)
    add = worker.register("add", kern("pk_add"))
    worker.start()
    x = np.zeros(4, np.float32)
    y = np.zeros(4, np.float32)
    worker.register_host(x)
    worker.register_host(y)

    def orch(o):
        o.submit(add, inouts=[y], scalars=[1.0])      # independent: runs
        o.submit(k, inouts=[x])
        try:
            o.submit(add, inouts=[x], scalars=[1.0])  # depends on the failed task
        except simpler.KernelError:
            pass                                      # or it failed already: fail-fast
    with pytest.raises(simpler.KernelError, match="ZeroDivisionError: integer division"):
        worker.run(orch)
    assert (x == 0).all() and (y == 1).all()
    worker.run(lambda o: o.submit(add, inouts=[x], scalars=[1.0]))   # usable after
    assert (x == 1).all()


def returning(args):
    """Writes 1 to its tensor, then returns what scalar 0 picks."""
    x, = args.tensors
    x[0] = 1
    return [None, 0, 7, True, 2**70, -22, -4095, -4096, -2**70, "yes", 1.0][args.scalars[0]]


def test_return_values(worker):
    # None or an int >= 0 (of any size) succeed, -1..-4095 is an errno, anything else
    # fails the task as if the kernel raised TypeError or ValueError
    k = worker.register("ret", returning)
    worker.start()
    x = np.zeros(1, np.int64)
    worker.register_host(x)

    def run(i):
        x[0] = 0
        try:
            worker.run(lambda o: o.submit(k, inouts=[x], scalars=[i], chip=0))
        finally:
            assert x[0] == 1                  # it ran either way
    failed = worker.stats()["tasks_failed"]
    for i in range(5):
        run(i)
    assert worker.stats()["tasks_failed"] == failed
    with pytest.raises(simpler.InvalidArgument, match=r"kernel 'ret' .* returned -22 "
                       r"\(Invalid argument\)$"):
        run(5)
    with pytest.raises(simpler.Error) as e:
        run(6)
    assert e.value.errno == 4095
    for i, text in ((7, "-4096"), (8, str(-2**70))):
        with pytest.raises(simpler.KernelError) as e:
            run(i)
        assert str(e.value).endswith("returned -121 (Remote I/O error): ValueError: a Python "
                                     "kernel returned %s: a negative result is an errno, "
                                     "-1..-4095" % text), str(e.value)
    for i, name in ((9, "str"), (10, "float")):
        with pytest.raises(simpler.KernelError) as e:
            run(i)
        assert str(e.value).endswith("TypeError: a Python kernel returns None or an int >= 0 "
                                     "(success) or a negative errno (failure), not '%s'" % name)
    assert worker.stats()["tasks_failed"] == failed + 6


def test_killed_chip_process_fails_its_task_and_restarts(kern):
    with make_worker("processes", chips=2) as w:
        def die(args):
            os.kill(os.getpid(), signal.SIGKILL)
        k = w.register("die", die)
        add = w.register("add", kern("pk_add"))
        w.start()
        old = w.chip_pid(1)
        x = np.zeros(4, np.float32)
        w.register_host(x)
        with pytest.raises(simpler.ChipDied) as e:
            w.run(lambda o: o.submit(k, chip=1))
        assert "chip 1 (pid %d) died while running kernel 'die'" % old in str(e.value)
        assert "killed by signal 9" in str(e.value)
        # the next run forks it again (from this interpreter) and Python kernels run there
        w.run(lambda o: o.submit(w.register("fill", late_kernel), inouts=[x], chip=1))
        assert (x == 42).all()
        assert w.chip_pid(1) != old and w.stats()["chip_restarts"] == 1
        w.run(lambda o: o.submit(add, inouts=[x], scalars=[1.0], chip=1))
        assert (x == 43).all()


def test_killed_from_outside_between_runs(kern):
    with make_worker("processes", chips=1) as w:
        add = w.register("add", kern("pk_add"))
        w.register("py", late_kernel)
        w.start()
        os.kill(w.chip_pid(0), signal.SIGKILL)
        x = np.zeros(4, np.float32)
        w.register_host(x)
        for _ in range(200):                 # until the library noticed the death
            try:
                w.chip_pid(0)
            except simpler.ChipDied:
                break
            import time
            time.sleep(0.05)
        w.run(lambda o: o.submit("py", inouts=[x]))
        assert (x == 42).all()


def test_late_registration_goes_pickled(worker):
    worker.start()
    x = np.zeros(8, np.int64)
    worker.register_host(x)
    k = worker.register("late", late_kernel)
    worker.run(lambda o: [o.submit(k, inouts=[x], chip=1), o.submit(k, inouts=[x], sub=True)])
    assert (x == 42).all()
    if worker.threads:
        worker.register("lambda", lambda args: None)     # same process: anything goes
    else:
        with pytest.raises(TypeError, match="reaches them pickled, and pickle refused it"):
            worker.register("lambda", lambda args: None)
        assert "lambda" not in worker.kernels


def test_closure_registered_before_start_runs_in_the_fork(worker):
    captured = np.int64(1234)

    def closure(args):
        x, = args.tensors
        x[:] = captured
    worker.register("closure", closure)
    worker.start()
    x = np.zeros(4, np.int64)
    worker.register_host(x)
    worker.run(lambda o: o.submit("closure", inouts=[x], chip=0))
    assert (x == 1234).all()


def test_kernel_args_view():
    with make_worker("threads", chips=2) as w:
        kept = []

        def k(args):
            kept.append(args)
            rep, = args.tensors
            assert len(args) == 1 and args[0] is rep
            rep[:] = [args.block_idx, args.block_dim, args.chip, len(args.scalars),
                      args.scalars[0]]
            assert "KernelArgs: 1 tensors, 1 scalars" in repr(args)
        w.register("k", k)
        rep = np.zeros(5, np.int64)
        w.run(lambda o: o.submit("k", outputs=[rep], scalars=[99], chip=1))
        assert list(rep) == [0, 1, 1, 1, 99]
        assert kept[0].block_dim == 1
        with pytest.raises(RuntimeError, match="only valid during its call"):
            kept[0][0]
        with pytest.raises(RuntimeError, match="only valid during its call"):
            kept[0].tensors
        assert kept[0].scalars == (99,)      # what was read stays readable


def test_python_kernels_in_parallel_threads_mode():
    # several library threads call Python kernels at once: each takes the GIL
    with make_worker("threads", chips=4, subs=2) as w:
        def inc(args):
            x, = args.tensors
            x += 1
        w.register("inc", inc)
        xs = [np.zeros(16, np.int64) for _ in range(8)]
        w.run(lambda o: [o.submit("inc", inouts=[xs[i % 8]], sub=(i % 3 == 0))
                         for i in range(800)])
        assert all((x == 100).all() for x in xs)
