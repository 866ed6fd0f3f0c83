"""Hand the heap a training freed back to the operating system.

A training allocates hundreds of MB in many blocks below glibc's mmap threshold (LightGBM's
boosters, darts' feature tables, statsmodels' fits). Freed, they stay in the process's heap
for reuse, and the worker's resident memory stays at the training's peak until it ends: on
the CityLearn data a LightGBM fit left 130 MB of its 150 MB resident after its model was
dropped, and `malloc_trim(0)` returned them. So the training activities call
`release_freed_memory` when they end, fitted or not.

glibc only (Linux's usual C library); elsewhere, or where libc has no `malloc_trim`
(musl), it only collects Python's garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
from functools import cache
from typing import Any

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def resident_kib() -> int | None:
    """This process's resident memory (VmRSS), in KiB; None where /proc does not say."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def release_freed_memory() -> bool:
    """Collect Python's garbage, then return the heap's free pages to the OS. True if the
    C library could be asked to (glibc), whether or not it had pages to return."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    before = resident_kib()
    trim(0)
    after = resident_kib()
    if before is not None and after is not None:
        log.info("released %d MiB of freed heap", max(before - after, 0) // 1024)
    return True
