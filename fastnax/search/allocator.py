"""glibc ``malloc`` settings for the search's many short-lived batch arrays.

A search prices a few hundred batches of a few hundred candidates; every batch allocates dozens of
arrays of 0.1-1 MB (layer tables, feature matrices, costs) and frees them. Above glibc's dynamic
mmap threshold each one is a fresh ``mmap`` whose pages are faulted in on first touch and returned
to the system when freed, and on a virtual machine a page fault is expensive: writing the first
column of a fresh 1,000 x 39 int64 layer-table field cost 127 us, against 3 us once freed memory
is reused (the whole table 2.9 ms against 1.2 ms), and the default digits search (7,879
candidates) spent about a fifth of its time so. :func:`tune_allocator` raises the mmap threshold
to :data:`MMAP_THRESHOLD` and the trim threshold to :data:`TRIM_THRESHOLD`, so freed batch arrays
stay in the heap and are reused. Side by side in fresh processes (``benchmarks/search_speed.py``,
2 cores, 2026-12-04, five runs), the warm optimisation took 0.089-0.106 s against 0.112-0.123 s
(x0.77-0.91), the CIFAR-sized one 0.16-0.22 s against 0.20-0.23 s, and the peak resident memory
moved by 1 MB. Both settings are needed: either one alone made the search slower (0.15-0.19 s;
glibc's dynamic threshold is switched off by the first, and the second alone still returns
memory above it).

``fastnax search`` applies it (the only process-wide side effect of the command); library callers
opt in by calling it. Nothing is changed when ``FASTNAX_ALLOCATOR=default`` is set, when the user
set glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, or off glibc (macOS,
Windows, musl). The results do not depend on it: only where freed memory goes.
"""

from __future__ import annotations

import os
import sys

#: largest allocation served from the heap instead of its own ``mmap`` (glibc's maximum on 64-bit)
MMAP_THRESHOLD = 32 << 20
#: free memory at the top of the heap kept for reuse instead of being returned to the system
TRIM_THRESHOLD = 64 << 20
# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ENV_OFF = "FASTNAX_ALLOCATOR"
_GLIBC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_applied: bool | None = None


def tune_allocator() -> bool:
    """Keep freed batch arrays in the heap (glibc only; see the module docstring).

    Returns whether the settings are in effect; a second call does nothing and says the same.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get(_ENV_OFF, "").strip().lower() == "default" or any(os.environ.get(k) for k in _GLIBC_ENV):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        # the mmap threshold first: setting it switches glibc's dynamic threshold off
        _applied = (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                    and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    except (OSError, ValueError, AttributeError):
        _applied = False
    return _applied
