"""Memory policy for large batch jobs (``leadscore score``).

Scoring reads an events file part by part, so the same few megabytes are allocated and freed
again for every part. By default both allocators in play hand freed memory back to the
operating system at once (Arrow's mimalloc purges it, glibc unmaps or trims it), and taking it
back costs page faults and, with two threads, TLB shoot-downs; on a virtual machine that
system time was as large as the scoring itself. Here freed memory is kept for reuse instead:
Arrow allocates through the system allocator, and glibc keeps what it frees (up to its 32 MiB
limit for single allocations). Peak memory is unchanged; memory is returned when the process
ends, which for a batch command is soon. Elsewhere (non-glibc systems) only the Arrow part applies.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses more on 64-bit systems


def keep_freed_memory() -> bool:
    """Apply the policy; says whether glibc took it (False where there is no glibc)."""
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all((
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1,
        mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1,
        mallopt(_M_TOP_PAD, 64 << 20) == 1,
    ))
