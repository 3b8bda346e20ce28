# SPDX-License-Identifier: MIT
"""Application threads sharing a worker: one drives it at a time, the others
get Busy with a message (never a crash, a hang or a worker closed under a
call), and the thread inside a call may come back in."""
import errno
import os
import sys
import threading
import time

import numpy as np
import pytest

import simpler
from conftest import make_worker


class Call(threading.Thread):
    """fn(*args) on another thread; result() joins and returns what it returned or raised."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.out, self.exc = fn, args, None, None
        self.start()

    def run(self):
        try:
            self.out = self.fn(*self.args)
        except BaseException as e:      # handed to result()
            self.exc = e

    def result(self):
        self.join(60)
        assert not self.is_alive(), "the call did not return"
        if self.exc:
            raise self.exc
        return self.out


class Held:
    """A tensor (__dlpack__) whose export waits for the test: the call using it is
    inside, the worker claimed, while other threads try theirs."""

    def __init__(self, arr):
        self.arr, self.inside, self.go = arr, threading.Event(), threading.Event()

    def __dlpack__(self, *args, **kw):
        self.inside.set()
        assert self.go.wait(60)
        return self.arr.__dlpack__()


def busy(fn, match):
    with pytest.raises(simpler.Busy, match=match) as e:
        fn()
    assert e.value.errno == errno.EBUSY
    return str(e.value)


def others_refused(w, inside, addr):
    """Every call of another thread while `inside` is in progress: Busy, saying which."""
    other = r"another thread is in %s\(\) on this worker \(a worker is driven by one " \
            r"thread at a time\): call it after that returns" % inside
    busy(w.close, r"close: another thread's %s\(\) on this worker is in progress; close it "
         r"after %s\(\) returns" % (inside, inside))
    busy(lambda: w.malloc(64), "malloc: " + other)
    busy(lambda: w.free(addr), "free: " + other)
    busy(lambda: w.copy_to(addr, np.zeros(4, np.uint8)), "copy_to: " + other)
    busy(lambda: w.copy_from(np.zeros(4, np.uint8), addr), "copy_from: " + other)
    busy(lambda: w.register_host(np.zeros(4)), "register_host: " + other)
    busy(lambda: w.unregister_host(1), "unregister_host: " + other)
    busy(lambda: w.check_host(np.zeros(4)), "check_host: " + other)
    busy(lambda: w.register("k", lambda a: None), "register: " + other)
    busy(lambda: w.run(lambda o: None), "run: " + other)
    busy(w.start, "start: " + other)
    busy(w.stats, "stats: " + other)
    busy(lambda: w.errmsg, "errmsg: " + other)
    busy(lambda: w.hostmem, "hostmem: " + other)
    assert not w.closed


@pytest.mark.parametrize("inside", ["copy_to", "copy_from", "register_host", "check_host"])
def test_other_threads_get_busy_during_a_call(mode, inside):
    with make_worker(mode) as w:
        addr = w.malloc(4096)
        w.copy_to(addr, np.arange(1024, dtype=np.float32))
        buf = np.arange(1024, dtype=np.float32) if inside != "copy_from" else \
            np.zeros(1024, np.float32)
        if inside == "check_host":
            seen = w.register_host(buf)     # else process mode says AddressError
        held = Held(buf)
        t = Call(*{"copy_to": (w.copy_to, addr, held), "copy_from": (w.copy_from, held, addr),
                   "register_host": (w.register_host, held),
                   "check_host": (w.check_host, held)}[inside])
        assert held.inside.wait(60)
        others_refused(w, inside, addr)
        held.go.set()
        out = t.result()
        # the held call went through, and so do the refused ones now
        if inside == "register_host":
            w.unregister_host(out)
        if inside == "check_host":
            assert out is None
            w.unregister_host(seen)
        if inside == "copy_from":
            assert np.array_equal(buf, np.arange(1024, dtype=np.float32))
        back = np.zeros(1024, np.float32)
        w.copy_from(back, addr)
        assert np.array_equal(back, np.arange(1024, dtype=np.float32))
        h = w.register_host(np.zeros(4))
        w.unregister_host(h)
    assert w.closed


def test_two_register_host_at_once_one_waits(mode):
    # both used to pass the capacity check, then write past the end of the table
    with make_worker(mode) as w:
        w.start()
        arrs = [np.zeros(8) for _ in range(40)]
        handles = [w.register_host(a) for a in arrs[:15]]      # the table holds 16
        held = Held(np.zeros(8))
        t = Call(w.register_host, held)
        assert held.inside.wait(60)
        busy(lambda: w.register_host(arrs[15]), r"register_host: another thread is in "
             r"register_host\(\)")
        held.go.set()
        handles.append(t.result())
        handles += [w.register_host(a) for a in arrs[15:]]
        assert len(set(handles)) == 41
        for h in handles:
            w.unregister_host(h)


def test_start_keeps_other_threads_out(monkeypatch):
    # the chips fork inside start(), which may let the GIL go (sys.stdout is flushed and
    # PyOS_BeforeFork() takes the import lock): another thread's close() or register()
    # then would free the worker under the fork or add a kernel no chip has
    w = make_worker("processes", chips=2)
    w.register("k", lambda args: None)
    same = []

    class Out:
        """sys.stdout: flushed before each fork, on the thread starting the worker."""
        inside, go = threading.Event(), threading.Event()

        def write(self, s):
            return len(s)

        def flush(self):
            if self.inside.is_set():
                return
            for call in (lambda: w.register("k2", lambda args: None), lambda: w.malloc(64)):
                try:
                    call()                  # the same thread, back in: refused too
                except simpler.Busy as e:
                    same.append(str(e))
            self.inside.set()
            assert self.go.wait(60)

    out = Out()
    monkeypatch.setattr(sys, "stdout", out)
    t = Call(w.start)
    assert out.inside.wait(60)
    others_refused(w, "start", 0)
    out.go.set()
    t.result()
    monkeypatch.undo()
    assert same == ["[Errno 16] register: this worker is starting (its chips are forking): "
                    "register after that returns",
                    "[Errno 16] start: this worker is starting (its chips are forking): call "
                    "it after that returns"]
    assert w.started and w.kernels == {"k": 0}
    pids = [w.chip_pid(0), w.chip_pid(1)]
    w.close()
    for p in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(p, 0)


def test_close_while_another_thread_copies(mode):
    # the reviewer's scene: one thread copies in a loop, another closes; threads mode
    # crashed (the worker destroyed under the copy), process mode hung
    w = make_worker(mode)
    a = np.arange(32 << 20, dtype=np.uint8)
    addr = w.malloc(a.nbytes)
    pids = [] if mode == "threads" else [w.chip_pid(0)]
    copies, stop = [0], threading.Event()

    def loop():
        while not stop.is_set():
            w.copy_to(addr, a)
            copies[0] += 1
    t = Call(loop)
    while copies[0] < 2 and t.is_alive():
        t.join(0.01)
    refused = []
    for _ in range(20):                 # nearly always inside a copy: refused
        try:
            w.close()
            break
        except simpler.Busy as e:
            refused.append(str(e))
        time.sleep(0.002)
    stop.set()
    try:
        t.result()
    except simpler.Error as e:          # closed between two copies: the next one refused
        assert e.errno == errno.EBADF and str(e) == "[Errno 9] copy_to: the worker is closed"
    w.close()
    assert w.closed and copies[0] >= 2
    assert all(m == "[Errno 16] close: another thread's copy_to() on this worker is in "
               "progress; close it after copy_to() returns" for m in refused), refused
    for p in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(p, 0)


def test_other_thread_cannot_drive_a_running_worker(mode, kern):
    with make_worker(mode) as w:
        e = w.register("e", kern("pk_empty"))
        seen = []

        def other():
            try:
                w.malloc(64)
            except simpler.Busy as ex:
                seen.append(str(ex))

        def orch(o):
            t = threading.Thread(target=other)
            t.start()
            t.join()
            o.submit(e)
        w.run(orch)
        assert seen == ["[Errno 16] malloc: another thread is in run() on this worker (a "
                        "worker is driven by one thread at a time): call it after that "
                        "returns, or share the worker under a lock"]
        with pytest.raises(simpler.Busy, match=r"close: this thread's run\(\) on this worker "
                           r"is in progress; close it after run\(\) returns"):
            w.run(lambda o: w.close())
        assert not w.closed
        w.run(lambda o: o.submit(e))          # still usable


def test_the_running_thread_comes_back_in(mode, kern):
    # the orchestration function's own thread may use the worker's other calls
    with make_worker(mode) as w:
        add = w.register("add", kern("pk_add"))
        w.start()
        x = np.zeros(256, np.float32)
        got = []

        def orch(o):
            addr = w.malloc(x.nbytes)
            w.copy_to(addr, np.full(256, 3, np.float32))
            back = np.zeros(256, np.float32)
            w.copy_from(back, addr)
            w.free(addr)
            got.append(back[0])
            w.register_host(x)
            o.submit(add, inouts=[x], scalars=[2.0])
        w.run(orch)
        assert got == [3] and (x == 2).all()
