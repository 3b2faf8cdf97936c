"""Datasets: each a plain function that returns a source ``x`` and a target ``y``.

Every prepared dataset is written as one ``.npz`` holding ``x`` and ``y`` (float32, shape
(n, d)) plus optional metadata, so the solver rule never needs to know where data came
from (see :func:`save_pair` / :func:`load_pair`). Its ``meta`` (JSON text) says how it was
prepared and, under ``stand_in``, whether it comes from stand-in data (:func:`load_meta`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from hiref.provenance import atomic_path


def save_pair(path: str | os.PathLike, x, y, **meta) -> None:
    """Writes a prepared pair atomically; ``meta`` values must be arrays or scalars."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x=np.asarray(x, np.float32), y=np.asarray(y, np.float32), **meta)


def load_pair(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``x`` and ``y`` of a prepared pair."""
    with np.load(path) as data:
        return data["x"], data["y"]


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


def prepared_meta(uns_preprocess) -> dict:
    """A prepared pair's ``meta`` from its ``.h5ad``'s ``uns['preprocess']``: the stand-in
    markers, kept there as JSON text, become a mapping under ``stand_in``."""
    meta = dict(uns_preprocess)
    if "stand_in" in meta:
        meta["stand_in"] = json.loads(meta["stand_in"])
    return meta
