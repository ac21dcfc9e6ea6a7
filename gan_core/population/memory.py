"""Keep freed memory in the process: a population's tensors are K times a trial's.

glibc's malloc serves an allocation above its mmap threshold (128 KiB at first, raised
as such chunks are freed) with fresh pages, and hands the top of the heap back to the
system once more than twice that threshold is free there. A population step allocates
and frees tensors of 0.5-4 MB (activations, gradients, the convolutions' layout copies),
so it kept getting fresh pages, each zeroed by the kernel on first touch: about 1,400
page faults per step for 8 digits DCGAN members and 300 for 16 MLP members, where a plain
trial of either has none. Raising both thresholds keeps the freed memory for the next
step's tensors (docs/population.md, "Speed on a CPU").

A process-wide allocator setting (it changes no result), made once; on Linux with glibc
only, elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
TRIM_BYTES = 1 << 30  # free memory at the top of the heap kept before any is returned
MMAP_BYTES = 32 << 20  # glibc's largest mmap threshold on 64-bit: larger blocks still mmap

_kept = False


def keep_freed_memory() -> bool:
    """Set glibc's trim and mmap thresholds once; True if they are set."""
    global _kept
    if _kept or not sys.platform.startswith("linux"):
        return _kept
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no glibc (musl has no mallopt): leave it as it is
        return False
    _kept = bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)
    )
    return _kept
