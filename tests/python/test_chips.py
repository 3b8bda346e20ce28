# SPDX-License-Identifier: MIT
"""Chip memory round trips, groups and affinity, sub workers."""
import numpy as np
import pytest

import simpler


def test_chip_memory_round_trip(worker, kern):
    add = worker.register("add", kern("pk_add"))
    src = np.arange(1024, dtype=np.float32)
    for chip in (0, 1):
        addr = worker.malloc(src.nbytes, chip=chip)
        assert addr
        worker.copy_to(addr, src, chip=chip)
        t = simpler.ChipTensor(addr, src.shape, "float32")
        assert (t.addr, t.shape, t.dtype, t.nbytes) == (addr, (1024,), "float32", 4096)
        assert repr(t) == "ChipTensor(%#x, (1024,), 'float32')" % addr
        assert repr(simpler.ChipTensor(0xabc, (2, 3))) == "ChipTensor(0xabc, (2, 3), 'uint8')"
        # two tasks on the chip's memory: ordered, in the chip's own address space
        worker.run(lambda o: [o.submit(add, inouts=[t], scalars=[1.0], chip=chip)
                              for _ in range(2)])
        back = np.zeros_like(src)
        worker.copy_from(back, addr, chip=chip)
        assert np.array_equal(back, src + 2)
        part = np.zeros(4, np.float32)
        worker.copy_from(part, addr + 8, chip=chip)
        assert list(part) == [4, 5, 6, 7]
        worker.free(addr, chip=chip)


def test_chip_memory_errors(worker, kern):
    add = worker.register("add", kern("pk_add"))
    addr = worker.malloc(64, chip=0)
    big = np.zeros(32, np.float32)
    with pytest.raises(simpler.AddressError):
        worker.copy_to(addr, big, chip=0)            # 128 bytes into 64
    with pytest.raises(ValueError, match="nbytes=200"):
        worker.copy_to(addr, big, chip=0, nbytes=200)
    worker.copy_to(addr, big, chip=0, nbytes=64)     # 64 of them fit
    with pytest.raises(ValueError, match="one contiguous block"):
        worker.copy_to(addr, big[::2], chip=0)
    with pytest.raises(ValueError, match="read-only"):
        worker.copy_from(np.frombuffer(b"x" * 64, np.uint8), addr, chip=0)
    with pytest.raises(simpler.InvalidArgument):
        worker.malloc(64, chip=7)
    t = simpler.ChipTensor(addr, 16, "float32")
    # chip memory used by a task that does not name its chip: libsimpler refuses it
    with pytest.raises(simpler.InvalidArgument, match="chip"):
        worker.run(lambda o: o.submit(add, inouts=[t], scalars=[1.0]))
    worker.free(addr, chip=0)
    with pytest.raises(simpler.InvalidArgument):
        worker.free(addr, chip=0)                    # twice
    with pytest.raises(TypeError):
        simpler.ChipTensor(addr, 16, "complex64")
    with pytest.raises(ValueError):
        simpler.ChipTensor(addr, (), "float32")


def where_py(args):
    """Writes chip * 1000 + block into tensor 0 [block] (-1000.. on a sub)."""
    out, = args.tensors
    out[args.block_idx] = args.chip * 1000 + args.block_idx


@pytest.mark.parametrize("kernel", ["c", "python"])
def test_affinity_and_blocks(worker, kern, kernel):
    k = worker.register("where", kern("pk_where") if kernel == "c" else where_py)
    worker.start()
    outs = [np.full(4, -7, np.int64) for _ in range(4)]
    for x in outs:
        worker.register_host(x)

    # inouts: the kernels write some elements only (an output is written whole:
    # what the shm backend copies back)
    def orch(o):
        o.submit(k, inouts=[outs[0]], chip=1)
        o.submit(k, inouts=[outs[1]], chip=0, block_dim=3)
        o.submit(k, inouts=[outs[2]], sub=True)
        o.submit(k, inouts=[outs[3]], sub=0)
    worker.run(orch)
    assert list(outs[0]) == [1000, -7, -7, -7]
    assert list(outs[1]) == [0, 1, 2, -7]
    assert list(outs[2]) == [-1000, -7, -7, -7]
    assert list(outs[3]) == [-1000, -7, -7, -7]


@pytest.mark.parametrize("kernel", ["c", "python"])
def test_groups(worker, kern, kernel):
    k = worker.register("where", kern("pk_where") if kernel == "c" else where_py)
    after = worker.register("after", kern("pk_vadd"))
    worker.start()
    a = np.full(2, -7, np.int64)
    b = np.full(2, -7, np.int64)
    x = np.zeros(2, np.float32)
    for t in (a, b, x):
        worker.register_host(t)

    def orch(o):
        o.submit_group(k, [{"outputs": [a]}, {"outputs": [b]}], chips=[1, 0])
        o.submit_group(k, [dict(outputs=[a[1:]]), dict(outputs=[b[1:]])])
    worker.run(orch)
    assert a[0] == 1000 and b[0] == 0
    assert sorted([a[1], b[1]]) == [0, 1000]          # two distinct chips, any order
    with pytest.raises(ValueError, match="2 members but 1 chips"):
        worker.run(lambda o: o.submit_group(k, [{"outputs": [a]}, {"outputs": [b]}],
                                            chips=[0]))
    with pytest.raises(TypeError, match="members\\[0\\] has key 'output'"):
        worker.run(lambda o: o.submit_group(k, [{"output": [a]}]))
    with pytest.raises(simpler.InvalidArgument):
        worker.run(lambda o: o.submit_group(k, [{"outputs": [a]}, {"outputs": [b]}],
                                            chips=[0, 0]))
    del after, x


def test_python_kernel_blocks_on_core_threads(worker):
    # the blocks of one launch run on the chip's core threads too: each takes the GIL of
    # its process (a chip process whose forking thread kept the GIL would hang here)
    def blocks(args):
        out, = args.tensors
        s = 0
        for i in range(2000):
            s += i
        out[args.block_idx] = s + args.block_idx
    k = worker.register("blocks", blocks)
    worker.start()
    out = np.zeros(64, np.int64)
    worker.register_host(out)
    for _ in range(5):
        worker.run(lambda o: [o.submit(k, inouts=[out], chip=c, block_dim=64) for c in (0, 1)])
        assert list(out) == [sum(range(2000)) + b for b in range(64)]
