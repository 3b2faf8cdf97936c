"""Starting centres of the low-rank splits, drawn on the host with NumPy.

Every split starts from soft assignments of its points to ``r`` centres: k-means++ seeds
(Arthur and Vassilvitskii 2007) drawn among the block's x and y points pooled, vectorised
over all the blocks of a level. Drawing them here keeps the device programs free of random
number generation (smaller programs that compile faster) and puts every random step of a
solve under one NumPy generator per stream.

The first split may instead start from the seeds of the best of several candidate splits,
which the solver judges (:func:`labels_from_order` reads a candidate's co-clusters).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hiref import costs


def _draw(weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """One index per row of ``weights`` (b, s) >= 0 (each row with a positive entry), drawn
    with probability proportional to the weights, by inverting their cumulative sums at the
    ``uniforms`` (b,) in [0, 1)."""
    cumulative = np.cumsum(weights, axis=1)
    pick = (cumulative <= (uniforms * cumulative[:, -1])[:, None]).sum(1)
    return np.minimum(pick, weights.shape[1] - 1)


def kmeanspp(take: Callable[[np.ndarray], np.ndarray], ids: np.ndarray, valid: np.ndarray,
             r: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds of every block at once.

    Args:
      take: reads points: ``take(ids)`` (..., d) for point ids (...) (the solver's: x rows,
        then y rows); ids: (b, s) the points of each block (padding: any id); valid: (b, s)
        bool, at least one valid point per block; r: centres per block; rng: the generator
        of the draws.
    Returns:
      (b, r, d) centres, each one of its block's valid points; when all valid points of a
      block already coincide with a centre, further centres repeat a valid point.

    Memory: the blocks' points are read ``HOST_CHUNK`` entries at a time, never all at once.
    """
    b = ids.shape[0]
    rows = np.arange(b)
    valid_weight = valid.astype(np.float64)
    first = take(ids[rows, _draw(valid_weight, rng.random(b))])
    centres = np.empty((b, r, first.shape[1]), first.dtype)
    centres[:, 0] = first
    nearest = _squared_distances(take, ids, first)
    for k in range(1, r):
        weights = np.where(valid, nearest, 0.0)
        exhausted = ~(weights.sum(1) > 0)
        weights[exhausted] = valid_weight[exhausted]
        centres[:, k] = take(ids[rows, _draw(weights, rng.random(b))])
        np.minimum(nearest, _squared_distances(take, ids, centres[:, k]), out=nearest)
    return centres


def _squared_distances(take, ids: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Squared distances (b, s) float64 from the points ``ids`` (b, s) of every block to the
    block's ``centre`` (b, d), a chunk of columns at a time."""
    out = np.empty(ids.shape)
    b, d = centre.shape
    for begin, end in costs.row_chunks(ids.shape[1], b * d):
        out[:, begin:end] = ((take(ids[:, begin:end]) - centre[:, None]) ** 2).sum(
            -1, dtype=np.float64)
    return out


def labels_from_order(order: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Co-cluster labels (t,) of one split block whose regrouped ``order`` (t,) lists its
    co-clusters of sizes ``caps`` (r,) one after another."""
    labels = np.empty(len(order), np.int64)
    labels[order] = np.repeat(np.arange(len(caps)), caps)
    return labels
