"""Starting centres of the low-rank splits: k-means++ seeds drawn inside the level program.

Every split starts from soft assignments of its points to ``r`` centres: k-means++ seeds
(Arthur and Vassilvitskii 2007) drawn among the block's x and y points pooled. They are drawn
on the device, where the points are (each centre costs one read of the block, a chunk at a
time, see :class:`hiref.lowrank.BlockPoints`), but from uniforms the solver draws on the host
with NumPy: the programs hold no random number generator, every random step of a solve stays
under one NumPy generator per stream, and the same uniforms give the same seeds (the first
split restarts from the uniforms of the best of several candidate splits, which the solver
judges; :func:`labels_from_order` reads a candidate's co-clusters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _draw(weights: jax.Array, uniform: jax.Array) -> jax.Array:
    """A position of ``weights`` (t,) >= 0 (with a positive entry), drawn with probability
    proportional to the weights by inverting their cumulative sum at ``uniform`` in [0, 1)."""
    cumulative = jnp.cumsum(weights)
    pick = (cumulative <= uniform * cumulative[-1]).sum(dtype=jnp.int32)
    return jnp.minimum(pick, weights.shape[0] - 1)


def kmeanspp(points, uniforms: jax.Array) -> jax.Array:
    """k-means++ seeds of one block.

    Args:
      points: the block (:class:`hiref.lowrank.BlockPoints`), its x and y points pooled (x
        first), at least one valid point; uniforms: (r,) in [0, 1), one per centre.
    Returns:
      (r, d) centres, each one of the block's valid points as ``points`` reads it; when all
      valid points already coincide with a centre, further centres repeat a valid point.
    """
    valid = jnp.concatenate([points.mask, points.mask]).astype(points.dtype)
    size = points.mask.shape[0]

    def point(weights, uniform):
        pick = _draw(weights, uniform)
        both = jnp.stack([points.take(side, pick[None] % size)[0] for side in (0, 1)])
        return both[pick // size]

    def squared_distances(centre):
        return points.map(lambda chunk, _: ((chunk - centre) ** 2).sum(-1)).reshape(-1)

    first = point(valid, uniforms[0])
    centres = jnp.zeros((uniforms.shape[0], first.shape[0]), first.dtype).at[0].set(first)

    def add(k, carry):
        centres, nearest = carry
        weights = jnp.where(valid > 0, nearest, 0.0)
        weights = jnp.where(weights.sum() > 0, weights, valid)
        centre = point(weights, uniforms[k])
        return centres.at[k].set(centre), jnp.minimum(nearest, squared_distances(centre))

    return jax.lax.fori_loop(1, uniforms.shape[0], add, (centres, squared_distances(first)))[0]


def labels_from_order(order: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Co-cluster labels (t,) of one split block whose regrouped ``order`` (t,) lists its
    co-clusters of sizes ``caps`` (r,) one after another."""
    labels = np.empty(len(order), np.int64)
    labels[order] = np.repeat(np.arange(len(caps)), caps)
    return labels
