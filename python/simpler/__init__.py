# SPDX-License-Identifier: MIT
"""simpler: run task graphs on the chips of one host, from Python.

A thin layer over libsimpler (see simpler(7)).  A Worker is a node: chips
(processes forked from this interpreter, or threads) and host sub workers.
Register kernels -- C functions in shared objects ("lib.so:symbol") or
Python callables -- then run() an orchestration function that submits
tasks; every dependency is inferred from the tensors' bytes::

    import numpy as np, simpler

    def add1(args):                       # a Python kernel: args.tensors are numpy views
        x, y = args.tensors
        y[:] = x + 1

    with simpler.Worker(chips=2, subs=1) as w:
        w.register("add1", add1)
        w.start()                         # the chips fork here (else at the first run)
        x = np.arange(1024, dtype=np.float32)
        y = np.empty_like(x)
        w.register_host(x)                # allocated after the fork: register it
        w.register_host(y)
        w.run(lambda o: o.submit("add1", inputs=[x], outputs=[y]))

Tensors are numpy arrays, torch CPU tensors, anything with the buffer
protocol or __dlpack__, or ChipTensor (chip memory); nothing is copied.
Errors raise simpler.Error subclasses carrying libsimpler's message.
"""
import atexit as _atexit

from ._simpler import (IN, INOUT, NO_DEP, OUT, OUT_EXISTING, AddressError, Busy,
                       ChipDied, ChipTensor, Error, Exists, InvalidArgument,
                       KernelArgs, KernelError, NotFound, Orchestrator,
                       OutOfMemory, TimedOut, Worker, __version__, library_version)
from . import _simpler

__all__ = ["Worker", "Orchestrator", "KernelArgs", "ChipTensor", "Error",
           "InvalidArgument", "OutOfMemory", "Busy", "NotFound", "Exists",
           "AddressError", "ChipDied", "KernelError", "TimedOut", "IN", "OUT",
           "INOUT", "OUT_EXISTING", "NO_DEP", "library_version", "__version__"]

# workers still open when the interpreter exits are closed first: their
# library threads must not outlive it
_atexit.register(_simpler._close_all)
