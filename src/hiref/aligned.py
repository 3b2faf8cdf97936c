"""Host buffers that JAX's CPU backend uses in place.

``jax.device_put`` of a NumPy array on the CPU makes no copy only when the array is
C-contiguous and its data start at a multiple of ``ALIGNMENT`` bytes; NumPy itself aligns
large arrays to 16 bytes only. A 5 GB cloud read into an ordinary array is therefore copied
once more by the solver; read into :func:`aligned_empty`, it is not.
"""

from __future__ import annotations

import numpy as np

#: Byte alignment at which JAX's CPU backend uses a NumPy array in place.
ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data start at a multiple of ``ALIGNMENT``
    bytes."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def is_aligned(a: np.ndarray) -> bool:
    """Whether ``a`` is C-contiguous with its data at a multiple of ``ALIGNMENT`` bytes."""
    return a.flags.c_contiguous and a.ctypes.data % ALIGNMENT == 0


def aligned(a: np.ndarray) -> np.ndarray:
    """``a`` itself when :func:`is_aligned`, else an aligned copy."""
    if is_aligned(a):
        return a
    out = aligned_empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def take_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``a[rows]`` (rows of a 2-D array) written straight into an aligned block."""
    out = aligned_empty((len(rows), *a.shape[1:]), a.dtype)
    return np.take(a, rows, axis=0, out=out)
