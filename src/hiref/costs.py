"""Ground costs: low-rank factors for the splits, dense blocks for the leaves, and the
linear-memory evaluation of a coupling's cost.

All functions on blocks take a validity mask, because blocks of one level may differ in size
by one point and are padded to a common shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def centre_block(x: jax.Array, y: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Subtracts the block's joint mean, so float32 squared norms keep their precision deep in
    the hierarchy where blocks are tiny compared with their distance from the origin.

    Args:
      x, y: (s, d); mask: (s,) bool.
    """
    w = mask[:, None].astype(x.dtype)
    centre = ((x * w).sum(0) + (y * w).sum(0)) / (2 * w.sum())
    return (x - centre) * w, (y - centre) * w


def pairwise(x: jax.Array, y: jax.Array, cost: str) -> jax.Array:
    """Dense cost matrix (s, t) between rows of ``x`` (s, d) and ``y`` (t, d)."""
    sq = (x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :] - 2.0 * x @ y.T
    sq = jnp.maximum(sq, 0.0)
    return sq if cost == "sqeuclidean" else jnp.sqrt(sq)


def pairwise_rows(x: jax.Array, y: jax.Array, cost: str) -> jax.Array:
    """Costs (s,) between the rows ``x[i]`` and ``y[i]`` of (s, d) arrays."""
    sq = ((x - y) ** 2).sum(-1)
    return sq if cost == "sqeuclidean" else jnp.sqrt(sq)


def sqeuclidean_factors(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Exact factors ``A (s, d+2)``, ``B (s, d+2)`` with ``A @ B.T = |x_i - y_j|^2``."""
    ones = jnp.ones((x.shape[0], 1), x.dtype)
    a = jnp.concatenate([(x * x).sum(-1, keepdims=True), ones, -2.0 * x], axis=1)
    b = jnp.concatenate([ones, (y * y).sum(-1, keepdims=True), y], axis=1)
    return a, b


def sample_rows(key: jax.Array, mask: jax.Array, size: int) -> jax.Array:
    """Two independent uniform samples without replacement of ``size`` row indices (2, size);
    padded rows (``mask`` False) come only after every valid row, in both samples."""
    noise = jnp.where(mask[None, :], jax.random.uniform(key, (2, mask.shape[0])), -1.0)
    return jax.lax.top_k(noise, size)[1]


def sampled_factors(
    x: jax.Array, y: jax.Array, mask: jax.Array, rank: int, key: jax.Array,
    landmarks: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Sampled low-rank factors of the Euclidean cost, ``A (s, rank) @ B(s, rank).T ~ C``.

    A CUR (skeleton) approximation: ``C ~ C[:, J] C[I, J]^+_rank C[I, :]`` with ``landmarks``
    (default ``rank``) landmark rows ``I`` and columns ``J`` drawn uniformly among the block's
    valid points, and the pseudo-inverse of the core truncated to its ``rank`` largest singular
    values (relative cut-off 1e-4). It reads ``O(s * landmarks)`` entries of the cost, never the
    whole matrix. Requires at least ``landmarks >= rank`` valid points.
    """
    rows_i, cols_j = sample_rows(key, mask, rank if landmarks is None else landmarks)
    c_xj = pairwise(x, y[cols_j], "euclidean")
    c_iy = pairwise(x[rows_i], y, "euclidean")
    u, sing, vt = jnp.linalg.svd(c_xj[rows_i])
    inv = jnp.where(sing[:rank] > 1e-4 * sing[0], 1.0 / sing[:rank], 0.0)
    return ((c_xj @ (vt[:rank].T * inv[None, :])) * mask[:, None],
            (c_iy.T @ u[:, :rank]) * mask[:, None])


def coupling_cost(
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    p: int,
    chunk: int = 1 << 16,
) -> float:
    """``sum_k weights[k] * |x[rows[k]] - y[cols[k]]|^p`` in float64, ``chunk`` pairs at a time.

    Memory is linear in the number of pairs; use it to score any sparse coupling or matching.
    """
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}.")
    x = np.asarray(x)
    y = np.asarray(y)
    total = 0.0
    for start in range(0, len(rows), chunk):
        sl = slice(start, start + chunk)
        diff = x[rows[sl]].astype(np.float64) - y[cols[sl]].astype(np.float64)
        sq = np.einsum("ij,ij->i", diff, diff)
        total += float(np.dot(weights[sl], sq if p == 2 else np.sqrt(sq)))
    return total
