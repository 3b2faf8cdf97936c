"""Datasets: each a plain function that returns a source ``x`` and a target ``y``.

Every prepared dataset is written as one ``.npz`` holding ``x`` and ``y`` (float32, shape
(n, d)) plus optional metadata, so the solver rule never needs to know where data came
from (see :func:`save_pair` / :func:`load_pair`). Its ``meta`` (JSON text) says how it was
prepared and, under ``stand_in``, whether it comes from stand-in data (:func:`load_meta`).
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from hiref.aligned import aligned
from hiref.datasets.npz_stream import member_shape, read_member
from hiref.provenance import atomic_path

#: Dimension of an image embedding: torchvision ResNet50's pooled features (``fc =
#: Identity``), as :mod:`hiref.datasets.images` computes them.
EMBED_DIM = 2048
#: Dimension of a prepared MERFISH pair: the cells' centroids (``center_x``, ``center_y``).
MERFISH_DIM = 2


def save_pair(path: str | os.PathLike, x, y, **meta) -> None:
    """Writes a prepared pair atomically; ``meta`` values must be arrays or scalars."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x=np.asarray(x, np.float32), y=np.asarray(y, np.float32), **meta)


def load_pair(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``x`` and ``y`` of a prepared pair, each into memory aligned for JAX
    (:mod:`hiref.aligned`), so that the solver uses them in place: ImageNet's 10.5 GB pair
    is held once, not twice. Members stored uncompressed (as :func:`save_pair` writes them)
    are read straight into the aligned blocks."""
    with zipfile.ZipFile(path) as zf:
        stored = all(zf.getinfo(f"{name}.npy").compress_type == zipfile.ZIP_STORED
                     for name in ("x", "y"))
    if stored:
        return tuple(read_member(path, name) for name in ("x", "y"))
    with np.load(path) as data:
        return aligned(data["x"]), aligned(data["y"])


def pair_shapes(path: str | os.PathLike) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of ``x`` and ``y`` of a prepared pair, from their headers only (a run that
    is skipped knows its size without reading ImageNet's 10.5 GB)."""
    with zipfile.ZipFile(path) as zf:
        return member_shape(zf, "x"), member_shape(zf, "y")


def load_meta(path: str | os.PathLike) -> dict:
    """The parsed ``meta`` of a prepared pair; ``{}`` when it has none or it is not JSON
    (synthetic pairs keep only their seed)."""
    with np.load(path) as data:
        if "meta" not in data.files:
            return {}
        text = str(data["meta"])
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def save_prepared(adata, h5ad_path: str | os.PathLike, npz_path: str | os.PathLike,
                  arrays: dict) -> dict:
    """Writes a prepared spatial pair: the joint AnnData ``adata`` (gzip ``.h5ad``) and the
    solvers' ``arrays`` (``x``, ``y`` and more, :func:`save_pair`), whose ``meta`` is the
    ``.h5ad``'s ``uns['preprocess']`` with the stand-in markers, kept there as JSON text, as a
    mapping under ``stand_in``. Returns that ``meta``."""
    adata.write_h5ad(h5ad_path, compression="gzip")
    meta = dict(adata.uns["preprocess"])
    if "stand_in" in meta:
        meta["stand_in"] = json.loads(meta["stand_in"])
    save_pair(npz_path, **arrays, meta=json.dumps(meta))
    return meta
