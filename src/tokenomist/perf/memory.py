"""Keeping freed memory for the next estimate.

The closed-form estimator works on arrays of one value per interval of every point it is
asked for: a 10,000-point grid allocates and frees several hundred arrays of 0.1 to 10 MB
in one call. glibc's malloc hands blocks above a moving threshold (128 KiB rising to
32 MiB) straight back to the operating system, and trims the top of its heap as soon as
more than twice that threshold is free, so a call often faults its memory in afresh, page
by page: a fifth to a third of the estimator's time on the 2-core VM it was measured on
(see ``benchmarks/bench_estimator.py``).

:func:`keep_freed_memory` fixes the two thresholds instead, as the environment variables
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` would: blocks up to 32 MiB come
from the heap, and up to 256 MiB of freed heap stays with the process for the next call.
The ``tokenomist`` command calls it; the Python API leaves a process's allocator alone
unless asked.
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 32 * 2**20  # the ceiling of glibc's own moving threshold
TRIM_THRESHOLD = 256 * 2**20
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse (see the module's docstring). Returns whether
    it did: only on Linux with glibc, and not where the user tuned malloc through the
    environment (``MALLOC_*_`` or ``GLIBC_TUNABLES``)."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _ENV):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (not musl)
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_set = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    trim_set = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return mmap_set and trim_set
