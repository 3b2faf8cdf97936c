"""Ground costs: low-rank factors for the splits, dense blocks for the leaves, and the
linear-memory evaluation of a coupling's cost.

All functions on blocks take a validity mask, because blocks of one level may differ in size
by one point and are padded to a common shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

#: Precision of every matrix product that builds or applies a cost on the device: full
#: float32 (on GPUs JAX's default may be TensorFloat-32, whose 10-bit mantissa would blur
#: the differences of squared distances that decide a split).
HIGHEST = jax.lax.Precision.HIGHEST


def block_centre(x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Joint mean (d,) of the valid rows of ``x`` and ``y`` (s, d); mask: (s,) bool."""
    w = mask[:, None].astype(x.dtype)
    return ((x * w).sum(0) + (y * w).sum(0)) / (2 * jnp.maximum(w.sum(), 1))


def centre_block(x: jax.Array, y: jax.Array, mask: jax.Array,
                 centre: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Subtracts the block's joint mean (or ``centre``), so float32 squared norms keep their
    precision deep in the hierarchy where blocks are tiny compared with their distance from
    the origin; padded rows become zero.

    Args:
      x, y: (s, d); mask: (s,) bool; centre: (d,) or None for :func:`block_centre`.
    """
    centre = block_centre(x, y, mask) if centre is None else centre
    w = mask[:, None].astype(x.dtype)
    return (x - centre) * w, (y - centre) * w


def pairwise(x: jax.Array, y: jax.Array, cost: str) -> jax.Array:
    """Dense cost matrix (s, t) between rows of ``x`` (s, d) and ``y`` (t, d); the product
    runs at full precision whatever JAX's default matmul precision (see ``HIGHEST``)."""
    sq = ((x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :]
          - 2.0 * jnp.matmul(x, y.T, precision=HIGHEST))
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


def sample_rows(noise: jax.Array, mask: jax.Array, size: int) -> jax.Array:
    """Two independent uniform samples without replacement of ``size`` row indices (2, size),
    the rows of largest ``noise`` (2, s) (uniforms); padded rows (``mask`` False) come only
    after every valid row, in both samples."""
    return jax.lax.top_k(jnp.where(mask[None, :], noise, -1.0), size)[1]


def sampled_factors(
    x: jax.Array, y: jax.Array, mask: jax.Array, rank: int, key: jax.Array | None = None,
    landmarks: int | None = None, *, noise: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Sampled low-rank factors of the Euclidean cost, ``A (s, rank) @ B(s, rank).T ~ C``.

    A CUR (skeleton) approximation: ``C ~ C[:, J] C[I, J]^+_rank C[I, :]`` with ``landmarks``
    (default ``rank``) landmark rows ``I`` and columns ``J`` drawn uniformly among the block's
    valid points, and the pseudo-inverse of the core truncated to its ``rank`` largest singular
    values (relative cut-off 1e-4). It reads ``O(s * landmarks)`` entries of the cost, never the
    whole matrix. Requires at least ``landmarks >= rank`` valid points. The landmarks are the
    rows of largest ``noise`` (2, s) uniforms (:func:`sample_rows`), drawn from ``key`` when
    ``noise`` is None.
    """
    if noise is None:
        noise = jax.random.uniform(key, (2, x.shape[0]), x.dtype)
    rows_i, cols_j = sample_rows(noise, mask, rank if landmarks is None else landmarks)
    c_xj = pairwise(x, y[cols_j], "euclidean")
    c_iy = pairwise(x[rows_i], y, "euclidean")
    u, sing, vt = jnp.linalg.svd(c_xj[rows_i])
    inv = jnp.where(sing[:rank] > 1e-4 * sing[0], 1.0 / sing[:rank], 0.0)
    return (jnp.matmul(c_xj, vt[:rank].T * inv[None, :], precision=HIGHEST) * mask[:, None],
            jnp.matmul(c_iy.T, u[:, :rank], precision=HIGHEST) * mask[:, None])


#: Entries (rows times features) per chunk of the float64 work in :func:`normalise`: its
#: temporaries stay near 32 MB whatever the size of the clouds.
NORMALISE_CHUNK = 1 << 22


@dataclass(frozen=True)
class Normalised:
    """Point clouds shifted and scaled in float64 before any low-precision work.

    Both clouds get the same shift (their joint mean) and the same scale (the root mean square
    distance of the shifted points from the origin), so the optimal matching does not change:
    ``|(x - c)/s - (y - c)/s|^p = |x - y|^p / s^p`` for both costs, and a cost matrix
    ``(M - min M) / (max M - min M)`` only adds a constant to every matching's total and
    scales it. Costs of the normalised problem are multiplied by ``cost_scale`` to return to
    the caller's units.

    Attributes:
      x, y: (n, d) normalised points, stored in the solve's working dtype (float32 unless
        the solve runs in float64): the shift and scale are applied in float64, a chunk at a
        time, before the cast. matrix: (n, m) float64 normalised cost or None.
      shift: (d,) the joint mean removed; scale: the length unit (1 when all points coincide).
      cost_scale, cost_offset: a mean cost ``c`` of the normalised problem is
        ``c * cost_scale + cost_offset`` in the caller's units (``scale**p`` and 0 for points;
        the matrix's range and minimum for a cost matrix).
    """

    x: np.ndarray
    y: np.ndarray
    matrix: np.ndarray | None
    shift: np.ndarray
    scale: float
    cost_scale: float
    cost_offset: float = 0.0


def _chunks(a: np.ndarray):
    """Yields ``(start, chunk)``: the rows of ``a`` (n, d) from ``start`` as a float64 array of
    about ``NORMALISE_CHUNK`` entries, one chunk in memory at a time."""
    step = max(1, NORMALISE_CHUNK // max(1, a.shape[1]))
    for start in range(0, len(a), step):
        yield start, np.asarray(a[start:start + step], np.float64)


def _chunked(clouds, reduce):
    """``reduce`` applied to every float64 row chunk of every cloud, one chunk in memory at a
    time; returns the list of results."""
    return [reduce(chunk) for cloud in clouds for _, chunk in _chunks(cloud)]


def normalise(x: np.ndarray, y: np.ndarray, cost: str, matrix: np.ndarray | None = None,
              dtype=np.float32) -> Normalised:
    """Shifts and scales ``x`` (n, d) and ``y`` (m, d) (and a cost ``matrix``) in float64 and
    stores the points in ``dtype``; see :class:`Normalised`. Any finite input, from 1e-30 to
    1e300 in magnitude or far from the origin, comes out with coordinates of order one.

    Memory: the normalised clouds in ``dtype`` plus float64 chunks of ``NORMALISE_CHUNK``
    entries; no float64 copy of a whole cloud is made.
    """
    clouds = (x, y)
    count = len(x) + len(y)
    # Two passes for the mean: the first removes the bulk of the offset, the second the
    # rounding left by it (points at 1e8 + N(0, 1) keep their unit-scale geometry).
    shift = np.sum(_chunked(clouds, lambda c: c.sum(0)), axis=0) / count
    shift = shift + np.sum(_chunked(clouds, lambda c: (c - shift).sum(0)), axis=0) / count
    # The largest coordinate first, so the mean square below cannot overflow.
    top = max(_chunked(clouds, lambda c: float(np.abs(c - shift).max())))
    scale = 1.0
    if top > 0:
        square = sum(_chunked(clouds, lambda c: float((((c - shift) / top) ** 2).sum())))
        rms = top * np.sqrt(square / count)
        scale = float(rms) if rms > 0 else float(top)
    out = []
    for cloud in clouds:
        stored = np.empty(cloud.shape, dtype)
        for start, chunk in _chunks(cloud):
            stored[start:start + len(chunk)] = (chunk - shift) / scale
        out.append(stored)
    if matrix is None:
        return Normalised(*out, None, shift, scale,
                          scale ** (2 if cost == "sqeuclidean" else 1))
    matrix = np.asarray(matrix, np.float64)
    # Divided by its largest magnitude first, so that max - min cannot overflow.
    top = max(float(np.abs(matrix).max()), np.finfo(np.float64).tiny)
    unit = matrix / top
    low, high = float(unit.min()), float(unit.max())
    span = high - low if high > low else 1.0
    return Normalised(*out, (unit - low) / span, shift, scale, span * top, low * top)


def assignment_costs(x: np.ndarray, y: np.ndarray, cost: str) -> np.ndarray:
    """Dense float64 costs (b, s, s) between the rows of square blocks ``x`` and ``y``
    (b, s, d) with the optimal assignments of ``cost``, in the form SciPy's
    ``linear_sum_assignment`` solves fastest.

    Squared Euclidean: ``-2 x'.y'`` with each block's ``x`` and ``y`` centred at their own
    means (``x'``, ``y'``). It differs from ``|x - y|^2`` by one term per row, one per column
    and a constant, which every assignment of a square block counts once, so the optimal
    assignments are the same; SciPy solves it 1.5-2.5 times faster than the distances
    (measured on leaf blocks of 128 points in 2-D to 32-D). Euclidean: ``|x - y|`` after
    centring both at their joint mean, so the expansion ``|x|^2 + |y|^2 - 2 x.y`` keeps its
    precision.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if cost == "sqeuclidean":
        x = x - x.mean(1, keepdims=True)
        y = y - y.mean(1, keepdims=True)
        return -2.0 * np.einsum("bsd,btd->bst", x, y)
    centre = (x.mean(1, keepdims=True) + y.mean(1, keepdims=True)) / 2
    x, y = x - centre, y - centre
    sq = (np.einsum("bsd,bsd->bs", x, x)[:, :, None] + np.einsum("btd,btd->bt", y, y)[:, None, :]
          - 2.0 * np.einsum("bsd,btd->bst", x, y))
    np.maximum(sq, 0.0, out=sq)
    return np.sqrt(sq, out=sq)


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
