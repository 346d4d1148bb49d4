"""Keeping a long clip's memory at a chunk's size: glibc's heap, made predictable.

Long clips are encoded chunk by chunk (`hear_wrappers.core.chunking`), so their working memory should
be that of one chunk. On Linux, glibc's malloc serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB at
start) with ``mmap`` and returns them to the system when freed; but each time such a block is freed,
glibc raises the threshold to that block's size (up to 32 MiB). After the program has once freed a big
tensor — creating a 600 s input does (``torch.randn(n) * 0.1`` frees a 110 MB temporary) — every
activation tensor comes from the heap instead, where a forward pass fragments it: measured with the
archisound encoder, a 600 s call then grew the process by 169 MiB instead of 82 MiB, against 65-75 MiB
for a 10 s call.

`steady_heap` fixes the threshold at 1 MiB, which turns glibc's adjustment off: blocks over 1 MiB
(activations) are always mapped and unmapped, small ones use the heap. With it the same 600 s call grew
by 83 MiB.

It changes malloc for the whole process, so it is opt-in: the benchmarks call it at their start, and
the embeddings runner (so the evaluation too) at its first batch longer than heareval's usual
(`hear_wrappers.embed.models.LONG_BATCH_SAMPLES`), since on short batches it only costs page faults;
in your own program call
``steady_heap()`` once, or set ``HEAR_WRAPPERS_MALLOC=steady`` in the environment (then the first
`HearModel` applies it, e.g. inside heareval's runner). Constructing a model never changes malloc
otherwise. ``HEAR_WRAPPERS_MALLOC=default`` (or your own ``MALLOC_MMAP_THRESHOLD_``) keeps malloc
untouched even where our tools would apply it (e.g. when your program uses jemalloc/tcmalloc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD_BYTES", "steady_heap", "steady_heap_if_asked"]

MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_applied: bool | None = None


def steady_heap() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD_BYTES`, once; True if it is (now) in effect.

    Does nothing (False) off Linux/glibc, when ``HEAR_WRAPPERS_MALLOC=default``, or when the user set
    ``MALLOC_MMAP_THRESHOLD_`` (their choice wins).
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if (
        not sys.platform.startswith("linux")
        or os.environ.get("HEAR_WRAPPERS_MALLOC", "").lower() == "default"
        or "MALLOC_MMAP_THRESHOLD_" in os.environ
    ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # only glibc has it (musl's mallopt is a no-op anyway)
    except (OSError, AttributeError):
        return False
    del gnu
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return _applied


def steady_heap_if_asked() -> bool:
    """`steady_heap` if the environment asks for it (``HEAR_WRAPPERS_MALLOC=steady``); else nothing."""
    if os.environ.get("HEAR_WRAPPERS_MALLOC", "").lower() != "steady":
        return False
    return steady_heap()
