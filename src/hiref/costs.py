"""Ground costs: low-rank factors for the splits, dense blocks for the leaves, and the
linear-memory evaluation of a coupling's cost.

All functions on blocks take a validity mask, because blocks of one level may differ in size
by one point and are padded to a common shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hiref import aligned

#: Precision of every matrix product that builds or applies a cost on the device: full
#: float32 (on GPUs JAX's default may be TensorFloat-32, whose 10-bit mantissa would blur
#: the differences of squared distances that decide a split).
HIGHEST = jax.lax.Precision.HIGHEST
#: Floor of a divisor that is zero only in a degenerate case (all points of a block
#: coincide, a gradient without spread, a power iteration from a null vector).
DIVISOR_FLOOR = 1e-30
#: Entries (rows times features) of the host's per-chunk temporaries when it reads, converts
#: or scores points (about 32 MB in float64), whatever the size of the clouds.
HOST_CHUNK = 1 << 22
#: Largest root-mean-square radius of the clouds (after their joint mean is removed) for the
#: squared Euclidean cost: a matching's mean squared distance is at most 4 times its square,
#: which then stays below float64's largest number (about 1.8e308).
LARGEST_SQEUCLIDEAN_SCALE = float(np.sqrt(np.finfo(np.float64).max) / 2)
#: A pair's squared distance below this (or not finite) is recomputed with its difference
#: scaled first: below it, float64 squares lose digits to underflow (subnormal numbers).
_SQUARE_UNDERFLOW = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)
#: A block solved on :func:`assignment_costs` keeps its assignment when the rounding of those
#: costs can put it at most this fraction of its mean matched cost above the block's optimum
#: (see :func:`fast_form_cancelled`); on Gaussian blocks of 128 points
#: in 2 to 2048 dimensions, whole or deep in a hierarchy, the bound is 1e-11 or less.
FAST_FORM_TOL = 1e-9


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

    A CUR (skeleton) approximation (:func:`skeleton_factors`) with ``landmarks`` (default
    ``rank``) landmark rows ``I`` and columns ``J`` drawn uniformly among the block's valid
    points. It reads ``O(s * landmarks)`` entries of the cost, never the whole matrix.
    Requires at least ``landmarks >= rank`` valid points. The landmarks are the rows of
    largest ``noise`` (2, s) uniforms (:func:`sample_rows`), drawn from ``key`` when ``noise``
    is None.
    """
    if noise is None:
        noise = jax.random.uniform(key, (2, x.shape[0]), x.dtype)
    rows_i, cols_j = sample_rows(noise, mask, rank if landmarks is None else landmarks)
    return skeleton_factors(pairwise(x, y[cols_j], "euclidean"),
                            pairwise(x[rows_i], y, "euclidean"), rows_i, rank, mask)


def skeleton_factors(c_xj: jax.Array, c_iy: jax.Array, rows_i: jax.Array, rank: int,
                     mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Factors ``A (s, rank)``, ``B (s, rank)`` of ``C ~ C[:, J] C[I, J]^+_rank C[I, :]`` from
    the cost's landmark columns ``c_xj`` (s, L) and rows ``c_iy`` (L, s), the landmark rows
    ``rows_i`` (L,) and the block's ``mask`` (s,): the pseudo-inverse of the core ``C[I, J]``
    is truncated to its ``rank`` largest singular values (relative cut-off 1e-4); padded rows
    are zero."""
    u, sing, vt = jnp.linalg.svd(c_xj[rows_i])
    inv = jnp.where(sing[:rank] > 1e-4 * sing[0], 1.0 / sing[:rank], 0.0)
    return (jnp.matmul(c_xj, vt[:rank].T * inv[None, :], precision=HIGHEST) * mask[:, None],
            jnp.matmul(c_iy.T, u[:, :rank], precision=HIGHEST) * mask[:, None])


class Clouds(NamedTuple):
    """The two clouds as a device program reads them: row ``i`` of ``x`` stands for the
    normalised point ``(x[i] - offset) * inv_scale`` (likewise ``y``; see :class:`Normalised`).

    Attributes:
      x, y: (n, d) stored points; offset: (d,); inv_scale: () (zero and one when the stored
        points are already normalised).
    """

    x: jax.Array
    y: jax.Array
    offset: jax.Array
    inv_scale: jax.Array

    def read(self, side: int, rows: jax.Array) -> jax.Array:
        """Normalised points (..., d) of ``x`` (``side`` 0) or ``y`` (1) at ``rows`` (...)."""
        return ((self.x if side == 0 else self.y)[rows] - self.offset) * self.inv_scale


@dataclass(frozen=True)
class Normalised:
    """Point clouds shifted and scaled together, so that low-precision work sees coordinates
    of order one.

    Both clouds get the same shift (their joint mean) and the same scale (the root mean square
    distance of the shifted points from the origin), so the optimal matching does not change:
    ``|(x - c)/s - (y - c)/s|^p = |x - y|^p / s^p`` for both costs, and a cost matrix
    ``(M - min M) / (max M - min M)`` only adds a constant to every matching's total and
    scales it. Costs of the normalised problem are multiplied by ``cost_scale`` to return to
    the caller's units.

    The normalised point ``i`` of ``x`` is ``(x[i] - offset) * inv_scale`` (:meth:`take`), in
    one of two forms decided by the input's type and range, never by where it lies in memory
    (so the same values always give the same result):

    - read: points already in the working dtype whose range allows it are normalised on
      reading, in the working dtype; ``x`` and ``y`` are the caller's arrays themselves
      (no copy) when JAX can use them in place, else copies aligned so that it can.
    - copy: other points (float64 in a float32 solve, or near the dtype's overflow or
      underflow) are shifted and scaled in float64, a chunk at a time, and stored normalised
      in the working dtype; ``offset`` is zero and ``inv_scale`` one.

    Attributes:
      x, y: (n, d) stored points in the working dtype. offset: (d,) and inv_scale: () in the
        working dtype, the normalisation applied on reading. matrix: (n, m) float64
        normalised cost or None.
      shift: (d,) the joint mean removed; scale: the length unit (1 when all points coincide;
        in the read form, ``1 / inv_scale`` exactly).
      cost_scale, cost_offset: a mean cost ``c`` of the normalised problem is
        ``c * cost_scale + cost_offset`` in the caller's units (``scale**p`` and 0 for points;
        the matrix's range and minimum for a cost matrix).
      sources: the caller's (n, d) arrays, any real dtype (no copy), which
        :meth:`take_exact` reads in float64.
      read: True in the read form (the stored points hold the caller's values).
    """

    x: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    inv_scale: np.ndarray
    matrix: np.ndarray | None
    shift: np.ndarray
    scale: float
    cost_scale: float
    cost_offset: float = 0.0
    sources: tuple[np.ndarray, np.ndarray] | None = None
    read: bool = False

    def take(self, side: int, rows: np.ndarray) -> np.ndarray:
        """Normalised points (..., d) of ``x`` (``side`` 0) or ``y`` (1) at ``rows`` (...), in
        the working dtype: the same values as :meth:`Clouds.read` on the device."""
        points = np.take(self.x if side == 0 else self.y, rows, axis=0)
        points -= self.offset
        points *= self.inv_scale
        return points

    def take_exact(self, side: int, rows: np.ndarray) -> np.ndarray:
        """Normalised points (..., d) of ``x`` (``side`` 0) or ``y`` (1) at ``rows`` (...), in
        float64 from the caller's points, whatever the working dtype: ``(p - shift) / scale``
        with every digit the input has (the host's exact blocks and matching costs read
        these, so clusters far apart relative to their spread keep their inner geometry)."""
        points = np.take(self.sources[side], rows, axis=0).astype(np.float64)
        points -= self.shift
        points /= self.scale
        return points

    def clouds(self) -> Clouds:
        """The clouds on JAX's default device: on a CPU the stored arrays themselves (aligned,
        so ``jax.device_put`` makes no copy)."""
        return Clouds(*(jax.device_put(a) for a in (self.x, self.y, self.offset,
                                                      self.inv_scale)))


def usable_in_place(a: np.ndarray) -> bool:
    """Whether JAX's default device can use ``a`` without a copy on the host: any C-contiguous
    array off the CPU (the device has its own memory), an aligned one on the CPU."""
    if jax.default_backend() != "cpu":
        return a.flags.c_contiguous
    return aligned.is_aligned(a)


def for_device(a: np.ndarray) -> np.ndarray:
    """``a`` itself when :func:`usable_in_place`, else an aligned copy that is."""
    return a if usable_in_place(a) else aligned.aligned(a)


def row_chunks(count: int, dim: int):
    """Yields ``(begin, end)``: ranges of rows of ``dim`` entries each, about ``HOST_CHUNK``
    entries in all, covering ``count`` rows."""
    step = max(1, HOST_CHUNK // max(1, dim))
    for begin in range(0, count, step):
        yield begin, min(begin + step, count)


def _chunked(clouds, reduce):
    """``reduce`` applied to every float64 row chunk of every cloud, one chunk in memory at a
    time; returns the list of results."""
    return [reduce(np.asarray(cloud[begin:end], np.float64))
            for cloud in clouds for begin, end in row_chunks(*cloud.shape)]


def normalise(x: np.ndarray, y: np.ndarray, cost: str, matrix: np.ndarray | None = None,
              dtype=np.float32) -> Normalised:
    """Shifts and scales ``x`` (n, d) and ``y`` (m, d) (and a cost ``matrix``) for work in
    ``dtype``; see :class:`Normalised` for the two forms. Any finite input of any real
    dtype, tiny, huge or far from the origin, comes out with coordinates of order one (the
    ranges tests cover: docs/solver.md, "Hostile inputs"). Raises ``ValueError`` for the
    squared Euclidean cost beyond ``LARGEST_SQEUCLIDEAN_SCALE``.

    Memory: float64 chunks of ``HOST_CHUNK`` entries, plus the stored points in ``dtype``
    unless the caller's arrays are used in place; no float64 copy of a whole cloud is made.
    """
    dtype = np.dtype(dtype)
    clouds = (x, y)
    count = len(x) + len(y)
    # Two passes for the mean: the first removes the bulk of the offset, the second the
    # rounding left by it (points at 1e8 + N(0, 1) keep their unit-scale geometry).
    # Each point divided by the count before the sum, so the sum cannot overflow.
    shift = np.sum(_chunked(clouds, lambda c: (c / count).sum(0)), axis=0)
    shift = shift + np.sum(_chunked(clouds, lambda c: (c - shift).sum(0)), axis=0) / count
    # The largest coordinate first, so the mean square below cannot overflow.
    top = max(_chunked(clouds, lambda c: float(np.abs(c - shift).max())))
    scale = 1.0
    if top > 0:
        square = sum(_chunked(clouds, lambda c: float((((c - shift) / top) ** 2).sum())))
        rms = top * np.sqrt(square / count)
        scale = float(rms) if rms > 0 else float(top)
    if matrix is None and cost == "sqeuclidean":
        check_sqeuclidean_range(scale)
    info = np.finfo(dtype)
    # Reading in ``dtype`` needs the differences from the shift and the inverse scale to be
    # finite normal numbers of the dtype with room to spare (checked in float64, so that an
    # inverse beyond the dtype's range does not overflow on the way).
    readable = (x.dtype == dtype and y.dtype == dtype and top < info.max / 4
                and info.tiny < 1.0 / scale < info.max / 4)
    inv_scale = dtype.type(1.0 / scale if readable else 1.0)
    if readable:
        scale = 1.0 / float(inv_scale)
        offset = shift.astype(dtype)
        stored = [for_device(a) for a in clouds]
    else:
        offset, inv_scale = np.zeros(x.shape[1], dtype), dtype.type(1)
        stored = [_normalised_copy(a, shift, scale, dtype) for a in clouds]
    form = {"offset": offset, "inv_scale": np.asarray(inv_scale, dtype), "shift": shift,
            "scale": scale, "sources": clouds, "read": readable}
    if matrix is None:
        return Normalised(*stored, matrix=None,
                          cost_scale=scale * scale if cost == "sqeuclidean" else scale, **form)
    matrix = np.asarray(matrix, np.float64)
    # Divided by its largest magnitude first, so that max - min cannot overflow.
    top = max(float(np.abs(matrix).max()), np.finfo(np.float64).tiny)
    unit = matrix / top
    low, high = float(unit.min()), float(unit.max())
    span = high - low if high > low else 1.0
    return Normalised(*stored, matrix=(unit - low) / span, cost_scale=span * top,
                      cost_offset=low * top, **form)


def check_sqeuclidean_range(scale: float) -> None:
    """Raises ``ValueError`` when clouds of root-mean-square radius ``scale`` (about their
    joint mean) are beyond ``LARGEST_SQEUCLIDEAN_SCALE``: their squared distances, and the
    mean cost of a matching, would overflow float64."""
    if scale > LARGEST_SQEUCLIDEAN_SCALE:
        raise ValueError(
            f"cost='sqeuclidean' on points whose root-mean-square radius is {scale:.3g}: their "
            f"squared distances (about {scale:.3g}**2) overflow float64 (largest about "
            f"{np.finfo(np.float64).max:.2g}). Divide x and y by a common factor, e.g. "
            f"1e{int(np.ceil(np.log10(scale)))} (the matching is the same; costs scale by "
            "the factor squared), or use cost='euclidean'."
        )


def _normalised_copy(a: np.ndarray, shift: np.ndarray, scale: float, dtype) -> np.ndarray:
    """``(a - shift) / scale`` computed in float64 a chunk at a time, stored in ``dtype``."""
    out = aligned.aligned_empty(a.shape, dtype)
    for begin, end in row_chunks(*a.shape):
        out[begin:end] = (np.asarray(a[begin:end], np.float64) - shift) / scale
    return out


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

    Memory: the costs and one float64 copy of each of ``x`` and ``y``.
    """
    x = np.array(x, np.float64)
    y = np.array(y, np.float64)
    # The cross products by BLAS (``matmul``): 20 times faster than ``einsum`` on blocks of
    # 1830 points in 2048-D.
    if cost == "sqeuclidean":
        x -= x.mean(1, keepdims=True)
        y -= y.mean(1, keepdims=True)
        products = np.matmul(x, np.swapaxes(y, 1, 2))
        products *= -2.0
        return products
    centre = (x.mean(1, keepdims=True) + y.mean(1, keepdims=True)) / 2
    x -= centre
    y -= centre
    sq = (np.einsum("bsd,bsd->bs", x, x)[:, :, None] + np.einsum("btd,btd->bt", y, y)[:, None, :]
          - 2.0 * np.matmul(x, np.swapaxes(y, 1, 2)))
    np.maximum(sq, 0.0, out=sq)
    return np.sqrt(sq, out=sq)


def fast_form_cancelled(xs, ys, cols, lows, cost: str, shifted=None) -> np.ndarray:
    """Which blocks' assignments, found on the fast form (:func:`assignment_costs`), may lie
    more than ``FAST_FORM_TOL`` of their mean matched cost above the block's optimum
    because of that form's rounding: (b,) bool.

    The form's entries expand products (``-2 x'.y'``, or ``|x|^2 + |y|^2 - 2 x.y``), whose
    rounding error ``e`` is bounded by a multiple of the block's radii; an assignment optimal
    for the rounded entries is at most ``2 e`` per point above the optimum. When the points
    lie in clusters far apart relative to their spread that bound exceeds the matched pairs'
    own distances: the form has cancelled. A matching of cost zero is optimal.

    Args:
      xs, ys: each block's float64 points (s_b, d); cols: each block's assignment (s_b,);
        lows: each block's smallest fast-form entry (used for ``"euclidean"``, where an
        entry's error is at most ``e / entry`` and at most ``sqrt(e)`` for an error ``e`` of
        its square); shifted: each block's largest entry magnitude when column potentials
        were subtracted from the form before solving (one more rounding of each entry, at most
        float64's epsilon times it), 0 when none were; None: none anywhere. Every pass is
        vectorised over the blocks.
    """
    sizes = np.array([len(c) for c in cols])
    starts = np.cumsum(sizes) - sizes
    x, y = np.concatenate(xs), np.concatenate(ys)
    diff = x - y[np.concatenate(cols) + np.repeat(starts, sizes)]
    matched = np.einsum("ij,ij->i", diff, diff)
    if cost != "sqeuclidean":
        matched = np.sqrt(matched, out=matched)
    mean = np.add.reduceat(matched, starts) / sizes
    eps, dim = float(np.finfo(np.float64).eps), x.shape[1]

    def largest_square(points, centres):
        away = points - np.repeat(centres, sizes, axis=0)
        return np.maximum.reduceat(np.einsum("ij,ij->i", away, away), starts)

    mean_x = np.add.reduceat(x, starts) / sizes[:, None]
    mean_y = np.add.reduceat(y, starts) / sizes[:, None]
    if cost == "sqeuclidean":
        # -2 x'.y' with each side centred at its own mean (see assignment_costs).
        error = 2 * (dim + 2) * eps * np.sqrt(largest_square(x, mean_x)
                                              * largest_square(y, mean_y))
    else:
        # |x|^2 + |y|^2 - 2 x.y about the joint mean, then a square root.
        centre = (mean_x + mean_y) / 2
        square_error = 4 * (dim + 2) * eps * np.maximum(largest_square(x, centre),
                                                        largest_square(y, centre))
        error = square_error / np.maximum(np.sqrt(square_error), np.asarray(lows))
    if shifted is not None:
        error = error + eps * np.asarray(shifted, np.float64)
    return (mean > 0) & (2 * error > FAST_FORM_TOL * mean)


def difference_costs(x: np.ndarray, y: np.ndarray, cost: str) -> np.ndarray:
    """Costs (s, t) between the rows of ``x`` (s, d) and ``y`` (t, d) (float64) from their
    coordinate differences, ``|x_i - y_j|^2`` summed term by term: no cancellation whatever
    the points' spread (slower than :func:`assignment_costs` in many dimensions); rows are
    taken a chunk at a time, so temporaries stay near ``HOST_CHUNK`` entries."""
    out = np.empty((len(x), len(y)))
    step = max(1, HOST_CHUNK // max(1, y.size))
    for begin in range(0, len(x), step):
        diff = x[begin:begin + step, None, :] - y[None, :, :]
        out[begin:begin + step] = np.einsum("ijk,ijk->ij", diff, diff)
    return out if cost == "sqeuclidean" else np.sqrt(out, out=out)


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

    Memory is linear in the number of pairs (their costs, 8 bytes each) plus float64 chunks
    of ``HOST_CHUNK`` entries; use it to score any sparse coupling or matching.
    """
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}.")
    x, y = np.asarray(x), np.asarray(y)
    return weighted_pair_cost(lambda k: x[k], lambda k: y[k], rows, cols, weights, p, chunk)


def weighted_pair_cost(take_x, take_y, rows, cols, weights, p: int, chunk: int = 1 << 16
                       ) -> float:
    """:func:`coupling_cost` of points read by ``take_x(rows)`` and ``take_y(cols)`` (any
    real arrays (k, d)); the weighted sum runs ``chunk`` pairs at a time. Differences are
    taken in float64; a pair whose squared distance would underflow or overflow float64 is
    scaled by its largest coordinate difference before squaring (:func:`_scaled_costs`), so
    its cost is right whenever it is itself a float64 number (``inf`` beyond)."""
    dim = take_x(rows[:1]).shape[1]
    costs = np.empty(len(rows))
    for begin, end in row_chunks(len(rows), dim):
        diff = take_x(rows[begin:end]).astype(np.float64)
        diff -= take_y(cols[begin:end])
        with np.errstate(over="ignore", under="ignore"):
            sq = np.einsum("ij,ij->i", diff, diff)
        extreme = ~(sq >= _SQUARE_UNDERFLOW) | np.isinf(sq)
        extreme &= np.any(diff != 0, axis=1)
        costs[begin:end] = sq if p == 2 else np.sqrt(sq, out=sq)
        if extreme.any():
            costs[begin + np.flatnonzero(extreme)] = _scaled_costs(diff[extreme], p)
    return sum(float(np.dot(weights[k:k + chunk], costs[k:k + chunk]))
               for k in range(0, len(rows), chunk))


def _scaled_costs(diff: np.ndarray, p: int) -> np.ndarray:
    """``|diff|^p`` of the rows of ``diff`` (k, d) (none zero), each row divided by its
    largest magnitude before squaring so that no intermediate underflows or overflows."""
    top = np.abs(diff).max(axis=1)
    unit = diff / top[:, None]
    with np.errstate(over="ignore", under="ignore"):
        length = top * np.sqrt(np.einsum("ij,ij->i", unit, unit))
        return length if p == 1 else length * length
