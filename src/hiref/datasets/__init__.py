"""Datasets: each a plain function that returns a source ``x`` and a target ``y``.

Every prepared dataset is written as one ``.npz`` holding ``x`` and ``y`` (float32, shape
(n, d)) plus optional metadata, so the solver rule never needs to know where data came
from (see :func:`save_pair` / :func:`load_pair`).
"""

from __future__ import annotations

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
