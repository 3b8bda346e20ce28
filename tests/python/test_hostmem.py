# SPDX-License-Identifier: MIT
"""Host memory after the fork: the scene of upstream #1190 with numpy and with
torch, refused unregistered arrays, check_host, unregister, shared memory."""
import mmap

import numpy as np
import pytest

import simpler
from conftest import make_worker

N = 128 * 128


def golden(a, b):
    s = a + b
    return (s + 1) * (s + 2) + s


def f_py(args):
    """f = (a + b + 1) * (a + b + 2) + (a + b), as a Python kernel."""
    a, b, f = args.tensors
    s = a + b
    f[:] = (s + 1) * (s + 2) + s


@pytest.mark.parametrize("kernel", ["c", "python"])
def test_post_fork_scene_numpy(mode, kern, kernel):
    with make_worker(mode, chips=2, subs=1) as w:
        k = w.register("f", kern("pk_f") if kernel == "c" else f_py)
        w.start()                                   # the chips fork here
        a = np.full((128, 128), 5, dtype=np.float32)   # created after the fork
        b = np.full((128, 128), 7, dtype=np.float32)
        f = np.zeros((128, 128), dtype=np.float32)
        handles = [w.register_host(x) for x in (a, b, f)]
        assert len(set(handles)) == 3
        w.run(lambda o: o.submit(k, inputs=[a, b], outputs=[f]))
        assert (f == golden(5, 7)).all() and f[0, 0] == 194
        for h in handles:
            w.unregister_host(h)


def test_post_fork_scene_torch(mode, kern):
    torch = pytest.importorskip("torch")
    with make_worker(mode, chips=2, subs=1) as w:
        kc = w.register("f", kern("pk_f"))
        kp = w.register("fpy", f_py)
        w.start()
        a = torch.full((128, 128), 5.0)
        b = torch.full((128, 128), 7.0)
        f = torch.zeros(128, 128)
        g = torch.zeros(128, 128)
        hs = [w.register_host(x) for x in (a, b, f, g)]

        def orch(o):
            o.submit(kc, inputs=[a, b], outputs=[f])
            o.submit(kp, inputs=[a, b], outputs=[g], sub=True)
        w.run(orch)
        assert bool((f == 194).all()) and bool((g == 194).all())
        # a column of a torch tensor: a strided view, through __dlpack__
        m = torch.arange(12, dtype=torch.float32).reshape(3, 4)
        w.register_host(m)
        w.run(lambda o: o.submit(kp, inputs=[m[:, 1], m[:, 2]], outputs=[m[:, 3]]))
        assert m[:, 3].tolist() == [golden(r * 4 + 1, r * 4 + 2) for r in range(3)]
        assert m[:, 0].tolist() == [0, 4, 8]        # the rest untouched
        for h in hs:
            w.unregister_host(h)


def test_unregistered_post_fork_array_refused(kern):
    with make_worker("processes") as w:
        k = w.register("f", kern("pk_f"))
        w.start()
        a = np.full(N, 5, dtype=np.float32)
        b = np.full(N, 7, dtype=np.float32)
        f = np.zeros(N, dtype=np.float32)
        w.register_host(a)
        w.register_host(f)
        with pytest.raises(simpler.AddressError) as e:
            w.run(lambda o: o.submit(k, inputs=[a, b], outputs=[f]))
        msg = str(e.value)
        assert "tensor 1 at 0x%x" % b.__array_interface__["data"][0] in msg
        assert "call simpler_host_register() on it" in msg
        assert (f == 0).all()                       # nothing ran
        with pytest.raises(simpler.AddressError, match="host_check"):
            w.check_host(b)
        assert w.check_host(a) is None
        w.register_host(b)                          # registered: now it runs
        w.run(lambda o: o.submit(k, inputs=[a, b], outputs=[f]))
        assert (f == 194).all()


def test_unregistered_torch_tensor_refused():
    torch = pytest.importorskip("torch")
    with make_worker("processes") as w:
        w.register("e", lambda args: None)
        w.start()
        t = torch.ones(1 << 16)
        with pytest.raises(simpler.AddressError, match=r"call simpler_host_register\(\) on it"):
            w.run(lambda o: o.submit("e", inputs=[t]))


def test_thread_mode_sees_everything(kern):
    with make_worker("threads") as w:
        k = w.register("f", kern("pk_f"))
        a, b = np.full(N, 5, np.float32), np.full(N, 7, np.float32)
        f = np.zeros(N, np.float32)
        w.run(lambda o: o.submit(k, inputs=[a, b], outputs=[f]))
        assert (f == 194).all()
        assert w.check_host(f) is None


def test_shared_memory_before_the_start_needs_no_registration(mode, kern):
    mm = mmap.mmap(-1, 3 * N * 4)                   # MAP_SHARED, before the fork
    buf = np.frombuffer(mm, dtype=np.float32)
    a, b, f = buf[:N], buf[N:2 * N], buf[2 * N:]
    with make_worker(mode) as w:
        k = w.register("f", kern("pk_f"))
        w.start()
        a[:], b[:] = 5, 7                           # written after the fork: shared pages
        assert w.check_host(f) is None
        w.run(lambda o: o.submit(k, inputs=[a, b], outputs=[f]))
        assert (f == 194).all()
    del a, b, f, buf


def test_register_errors_and_unregister(mode):
    with make_worker(mode) as w:
        x = np.zeros(1024, np.float32)
        h = w.register_host(x)
        with pytest.raises(simpler.Exists, match="overlaps the buffer"):
            w.register_host(x[10:20])
        with pytest.raises(TypeError, match="register_host"):
            w.register_host("not memory")
        w.unregister_host(h)
        with pytest.raises(simpler.NotFound):
            w.unregister_host(h)
        h2 = w.register_host(x[10:20])              # free again
        w.unregister_host(h2)


def test_registered_array_kept_alive(mode):
    import sys
    import gc
    with make_worker(mode) as w:
        x = np.zeros(1024, np.float32)
        before = sys.getrefcount(x)
        h = w.register_host(x)
        assert sys.getrefcount(x) > before          # held (and its buffer exported)
        w.unregister_host(h)
        gc.collect()
        assert sys.getrefcount(x) == before
