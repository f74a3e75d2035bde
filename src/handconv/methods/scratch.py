"""Scratch buffers kept per thread between calls.

A fresh NumPy array of a few MiB is fresh pages from the kernel, and on the
development VM each 4 KiB page costs a fault of ~3 us on first touch: a 4 MiB
buffer ~3 ms, more than the copy into it (S11 with ``im2col``: 7.8 ms a call
with a new columns buffer, 3.6 ms with a kept one). Methods whose workspace is
internal (never returned) take it from here instead. Each thread has its own
buffers, so calls from many threads never share one; buffers above
``MAX_KEPT_BYTES`` are not kept (a rare huge call should not pin its memory).
"""

from __future__ import annotations

import threading

import numpy as np

#: Largest buffer a thread keeps between calls.
MAX_KEPT_BYTES = 64 * 2**20

_KEPT = threading.local()


def scratch(shape: tuple[int, ...], dtype: np.dtype, slot: str) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype``: this thread's buffer for ``slot``, grown as needed.

    The contents are whatever the last call left; the caller overwrites what it reads.

    >>> a = scratch((2, 3), np.float32, "doctest")
    >>> b = scratch((3, 2), np.float32, "doctest")
    >>> a.shape, b.shape, np.shares_memory(a, b)
    ((2, 3), (3, 2), True)
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes > MAX_KEPT_BYTES:
        return np.empty(shape, dtype=dtype)
    kept = getattr(_KEPT, "buffers", None)
    if kept is None:
        kept = _KEPT.buffers = {}
    buffer = kept.get(slot)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = kept[slot] = np.empty(max(nbytes, 64), dtype=np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)
