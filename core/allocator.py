"""Keep the memory of freed large arrays for reuse (glibc only).

A build of a big model makes and drops many arrays of the size of its weights (a
4096 x 4096 layer: 64 MB each, dozens of times: onnx's tensor conversions, numpy's
casts, serialization). glibc's malloc gives every block above its mmap threshold
(at most 32 MB by default) its own mapping and returns it to the system when it is
freed, so the next array of that size is faulted in again, page by page, and zeroed by
the kernel. On the machine the scale benchmark ran on, that was a third of the 4096
layer's estimate flow (``benchmarks/bench_scale.py``: about 2.5 s of system time).

:func:`reuse_freed_memory` raises the mmap threshold and the trim threshold, so freed
blocks stay in the heap and are reused. The process's peak memory grows a little (freed
blocks are kept up to the trim threshold); the time spent in page faults mostly goes.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import sys

#: mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks below this are taken from (and freed to) the heap, not mapped one by one.
MMAP_THRESHOLD = 1 << 30
#: Free memory at the top of the heap is returned to the system above this.
TRIM_THRESHOLD = 1 << 30

_done = False


def reuse_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed blocks up to 1 GB for reuse; whether it did.

    Called once per process, by ``dfx run`` for a model file of at least
    :data:`LARGE_MODEL_BYTES` (a small model allocates nothing big, and ``ctypes`` is
    then not imported).
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _done = ok
    return ok


#: A model file this large makes ``dfx run`` call :func:`reuse_freed_memory`.
LARGE_MODEL_BYTES = 16 * 2**20
