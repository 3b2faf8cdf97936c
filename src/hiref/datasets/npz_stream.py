"""Writing and reading ``.npz`` files in pieces, so that a 10.5 GB array (ImageNet's
1,281,167 x 2048 float32 embeddings) never has to be in memory whole, let alone twice.

The files are ordinary ``np.savez`` files (an uncompressed zip of ``.npy`` members, ZIP64):
``np.load`` reads them as usual. :class:`NpzWriter` streams a member chunk by chunk;
:class:`NpyRows` reads chosen rows, or all, of a stored member with ``os.preadv`` straight
into a new block aligned for JAX (:mod:`hiref.aligned`).
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import numpy as np

from hiref.aligned import aligned_empty

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes
#: Bytes read by one system call when a whole member is read (Linux reads at most about
#: 2 GiB per call).
READ_BYTES = 1 << 26
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def member_shape(zf: zipfile.ZipFile, name: str) -> tuple[int, ...]:
    """The shape of member ``name`` (e.g. ``"x"``) of an open ``.npz``, compressed or not,
    from its header only."""
    with zf.open(f"{name}.npy") as fh:
        return _HEADER_READERS[np.lib.format.read_magic(fh)](fh)[0]


def read_member(path: str | os.PathLike, name: str) -> np.ndarray:
    """Member ``name`` of an uncompressed ``.npz``, read in place into aligned memory
    (:meth:`NpyRows.read`)."""
    with NpyRows(path, name) as member:
        return member.read()


class NpzWriter:
    """An ``.npz`` written member by member (use as a context manager)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._zip = zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED, allowZip64=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def add(self, name: str, array) -> None:
        """One whole array, as ``np.savez(name=array)`` stores it."""
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)

    @contextmanager
    def rows(self, name: str, shape: tuple[int, ...], dtype) -> Iterator:
        """Yields ``write(block)``, which appends rows (C order, ``shape[1:]`` each) to member
        ``name``; exactly ``shape[0]`` rows must be written before the block ends."""
        dtype = np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                  "shape": tuple(int(s) for s in shape)}
        written = 0

        def write(block) -> None:
            nonlocal written
            block = np.ascontiguousarray(block, dtype=dtype)
            if block.shape[1:] != tuple(shape[1:]) or written + len(block) > shape[0]:
                raise ValueError(
                    f"{self.path}:{name}: block of shape {block.shape} does not fit {shape} "
                    f"after {written} rows"
                )
            fh.write(memoryview(block).cast("B"))
            written += len(block)

        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_2_0(fh, header)
            yield write
        if written != shape[0]:
            raise ValueError(f"{self.path}:{name}: {written} rows written, {shape[0]} declared")


class NpyRows:
    """Rows of one uncompressed member of an ``.npz`` (a 2-D C-order array), read on demand.

    ``shape`` and ``dtype`` are the member's; :meth:`take` copies chosen rows into a new
    block with ``os.preadv``, straight from the file into the block: no mapping (the kernel
    would map neighbouring pages too, and they count as resident memory), no second copy. A
    compressed member (``np.savez_compressed``) cannot be read in place: that is a
    ``ValueError`` naming the file.
    """

    def __init__(self, path: str | os.PathLike, name: str):
        self.path = Path(path)
        with zipfile.ZipFile(self.path) as zf:
            info = zf.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{self.path}: member {name!r} is compressed; rows are read in "
                             "place only from an uncompressed npz (np.savez)")
        with open(self.path, "rb") as fh:
            fh.seek(info.header_offset)
            local = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
            fh.seek(info.header_offset + _LOCAL_HEADER.size + local[10] + local[11])
            read_header = _HEADER_READERS[np.lib.format.read_magic(fh)]
            self.shape, fortran, self.dtype = read_header(fh)
            self._offset = fh.tell()
            file_size = os.fstat(fh.fileno()).st_size
        if fortran or len(self.shape) != 2:
            raise ValueError(f"{self.path}: member {name!r} is not a C-order 2-D array")
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        if file_size < self._offset + self.shape[0] * self._row_bytes:
            raise ValueError(f"{self.path}: member {name!r} is truncated")
        self._fd = os.open(self.path, os.O_RDONLY)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._fd)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """``array[rows]`` as a new ``(len(rows), d)`` block (aligned:
        :func:`hiref.aligned.aligned_empty`), read in file order."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"{self.path}: row index out of range 0..{self.shape[0] - 1}")
        out = aligned_empty((len(rows), self.shape[1]), self.dtype)
        targets = list(out.view(np.uint8).reshape(len(rows), self._row_bytes))
        offsets = (self._offset + rows * self._row_bytes).tolist()
        for k in np.argsort(rows, kind="stable").tolist():
            os.preadv(self._fd, [targets[k]], offsets[k])
        return out

    def read(self) -> np.ndarray:
        """The whole array (aligned), read in pieces of ``READ_BYTES``."""
        out = aligned_empty(self.shape, self.dtype)
        flat = out.reshape(-1).view(np.uint8)
        for begin in range(0, flat.size, READ_BYTES):
            piece = flat[begin:begin + READ_BYTES]
            if os.preadv(self._fd, [piece], self._offset + begin) != piece.size:
                raise ValueError(f"{self.path}: member ended early (truncated?)")
        return out
