"""The split of one block into ``r`` co-clusters of prescribed sizes: low-rank OT by mirror
descent with a fixed inner marginal (LOT, Scetbon, Cuturi and Peyre 2021), then a rounding of
the soft assignments to hard ones with exact capacities.

Everything here works on one padded block; the solver's level program ``jax.vmap``-s
:func:`split` over all the blocks of a level. Fixed iteration counts (no per-block
convergence loops) keep the batched computation cheap: the rounding, not convergence,
guarantees a valid split, and :class:`SplitDiagnostics` shows how far from converged a split
was.

Memory: a block's points are read from the whole clouds a chunk of rows at a time
(:class:`BlockPoints`) and never copied out in full, since the blocks of a level together
hold every point; what a split keeps is of size ``r * s`` (its plans) or ``s * k`` for cost
factors of small rank ``k``. The squared Euclidean cost's exact factors, of rank ``d + 2``,
are applied from the points (:class:`_PointFactors`) instead of being stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hiref import costs, starts

_NEG = -jnp.inf
HIGHEST = costs.HIGHEST

#: In the scaling-domain products of a projection, kernel entries below ``exp(-floor)`` times
#: their row's largest entry are raised to it, ``floor`` being this share of the logarithm of
#: the dtype's smallest normal number (78 in float32, 637 in float64). The Sinkhorn
#: iterations then never divide by an underflowed zero, and no scaling exceeds ``exp(floor)``;
#: a floor this deep binds only for a co-cluster that every row of the block all but refuses.
KERNEL_FLOOR_SHARE = 0.9

#: The sampled Euclidean factorisation of a block draws this many landmark rows and columns
#: per unit of ``cost_rank`` and truncates its core to ``cost_rank``: with as many landmarks
#: as the rank, the skeleton misses the short distances that decide a near-identity transport
#: (MERFISH-shaped slices: W1 2.6 x that of the same solve with 4 landmarks per rank), while the
#: mirror descent's work depends on the rank only. Sampled blocks hold more than
#: ``4 * cost_rank`` points (:func:`needs_noise`), so every landmark is a real point.
LANDMARKS_PER_RANK = 4


class SplitDiagnostics(NamedTuple):
    """How good a block's split was, before and after rounding (each a scalar per block).

    Attributes:
      objective: the low-rank objective ``<C, Q diag(1/g) R^T>`` of the soft plan before
        rounding (the block's cost units, mass one per block; from the cost factors, so an
        estimate for the sampled Euclidean factorisation).
      marginal_error: L1 distance of the row sums of ``Q`` and of ``R`` from the uniform
        marginal (the larger of the two; 0 is a converged projection, 2 the worst).
      moved: valid points (x and y together) whose co-cluster after the capacity-exact
        rounding differs from their most likely co-cluster in ``Q`` or ``R``.
    """

    objective: jax.Array
    marginal_error: jax.Array
    moved: jax.Array


class _Scaled(NamedTuple):
    """One side's plan in the scaling domain, co-clusters on the leading axis: ``P[k, i] =
    kernel[k, i] exp(log_u[i] + log_v[k])`` and ``log P = log_k - shift + log_u + log_v``.

    Attributes:
      log_k: (r, s) log-kernel before its row shift (``-inf`` on padding); kernel: (r, s)
      ``exp`` of the shifted and floored log-kernel (0 on padding); shift: (s,) each point's
      largest log-kernel entry (0 on padding); log_u: (s,) and log_v: (r,) the scalings.
    """

    log_k: jax.Array
    kernel: jax.Array
    shift: jax.Array
    log_u: jax.Array
    log_v: jax.Array

    def plan(self) -> jax.Array:
        """The plan (r, s). With the largest ``u`` scaled to one, its point's kernel entries
        ``>= exp(floor)`` bound every ``exp(log_v + top)`` by ``exp(-floor)`` (a plan entry is
        at most one), so the product cannot overflow."""
        top = self.log_u.max()
        return (self.kernel * jnp.exp(self.log_u - top)[None, :]
                * jnp.exp(self.log_v + top)[:, None])

    def log_plan(self) -> jax.Array:
        """``log P`` (r, s), from the unfloored log-kernel (its tail still ranks the unlikely
        co-clusters of a point, which the rounding needs)."""
        return self.log_k + (self.log_u - self.shift)[None, :] + self.log_v[:, None]


def _project(log_k: jax.Array, log_a: jax.Array, log_g: jax.Array, mask: jax.Array,
             iters: int) -> _Scaled:
    """Sinkhorn projection of the kernel ``exp(log_k)`` onto point sums ``a`` and co-cluster
    sums ``g``, in the scaling domain with one ``exp`` of the (r, s) kernel per call.

    The kernel is stabilised per point (largest entry one; in the products, entries floored,
    see ``KERNEL_FLOOR_SHARE``) and the scalings are kept as logarithms; each matrix-vector
    product uses scalings divided by their largest, so nothing overflows or underflows
    whatever the iteration count. The plan is never materialised here: the mirror-descent
    step reads it through the kernel and the scalings (:class:`_Scaled`).

    Args:
      log_k: (r, s) log-kernel, ``-inf`` on padded points; log_a: (s,), ``-inf`` on padding;
        log_g: (r,); mask: (s,) bool; iters: Sinkhorn iterations (at least one).
    Returns:
      The projected plan: its co-cluster sums are ``g`` exactly, its point sums ``a`` up to
      the remaining marginal error.
    """
    shift = jnp.where(mask, log_k.max(axis=0), 0.0)
    floor = KERNEL_FLOOR_SHARE * float(np.log(np.finfo(log_k.dtype).tiny))
    kernel = jnp.where(mask[None, :], jnp.exp(jnp.maximum(log_k - shift[None, :], floor)), 0.0)

    def points(log_v):
        top = log_v.max()
        sums = jnp.matmul(jnp.exp(log_v - top), kernel, precision=HIGHEST)
        return jnp.where(mask, log_a - jnp.log(sums) - top, _NEG)

    def clusters(log_u):
        top = log_u.max()
        return log_g - jnp.log(jnp.matmul(kernel, jnp.exp(log_u - top), precision=HIGHEST)) - top

    def step(_, scalings):
        log_u = points(scalings[1])
        return log_u, clusters(log_u)

    # One instance of each half-iteration in the program (a smaller program compiles faster).
    log_u, log_v = jax.lax.fori_loop(0, iters, step, (log_a, jnp.zeros_like(log_g)))
    return _Scaled(log_k, kernel, shift, log_u, log_v)


def _order_keys(values: jax.Array) -> jax.Array:
    """Unsigned integers (same width as the floats ``values``) in the floats' order: the sign
    bit flipped for non-negative values, every bit for negative ones."""
    bits = {4: jnp.uint32, 8: jnp.uint64}[values.dtype.itemsize]
    raw = jax.lax.bitcast_convert_type(values, bits)
    sign = jnp.asarray(1, bits) << (8 * values.dtype.itemsize - 1)
    return jnp.where(raw & sign, ~raw, raw | sign)


def take_largest(values: jax.Array, eligible: jax.Array, count: jax.Array) -> jax.Array:
    """The ``count`` eligible rows of largest ``values`` (ties: the lower index first), as a
    mask; all eligible rows when fewer than ``count``.

    The threshold is built bit by bit on order-preserving integer keys (one compare-and-count
    pass per bit, 32 in float32), so the selection costs ``O(bits * s)`` without a sort:
    on a CPU a sort of ``s`` rows costs about as much as 30 such passes.

    Args:
      values: (s,) floats (``-inf`` allowed); eligible: (s,) bool; count: int scalar >= 0.
    """
    keys = _order_keys(values)
    width = 8 * values.dtype.itemsize

    def refine(bit, threshold):
        trial = threshold | (jnp.asarray(1, keys.dtype) << (width - 1 - bit).astype(keys.dtype))
        enough = (eligible & (keys >= trial)).sum(dtype=jnp.int32) >= count
        return jnp.where(enough, trial, threshold)

    # The largest threshold with at least ``count`` eligible keys at or above it.
    threshold = jax.lax.fori_loop(0, width, refine, jnp.zeros((), keys.dtype))
    above = eligible & (keys > threshold)
    tied = eligible & (keys == threshold)
    room = count - above.sum(dtype=jnp.int32)
    return above | (tied & (jnp.cumsum(tied, dtype=jnp.int32) <= room))


def round_to_capacity(score: jax.Array, mask: jax.Array, caps: jax.Array) -> jax.Array:
    """Hard labels with exactly ``caps[k]`` valid rows in cluster ``k``.

    Each row first takes its best cluster; a cluster over capacity keeps its highest-scoring
    rows. The rows left over are then placed cluster by cluster, each taking the best of the
    remaining rows up to its free capacity, so the result is always capacity-exact. Ties go
    to the lower row index. Every selection is a :func:`take_largest` (no sort).

    Args:
      score: (s, r) preference of row i for cluster k; mask: (s,) bool; caps: (r,) int with
        ``caps.sum() == mask.sum()``.
    Returns:
      (s,) int32 labels; padded rows get label ``r``.
    """
    r = score.shape[1]
    score = jnp.where(mask[:, None], score, _NEG)
    label = jnp.argmax(score, axis=1).astype(jnp.int32)
    best = score.max(axis=1)

    def keep_best(k, keep):
        return keep | take_largest(best, mask & (label == k), caps[k])

    keep = jax.lax.fori_loop(0, r, keep_best, jnp.zeros_like(mask))
    free = caps - jnp.zeros(r, jnp.int32).at[label].add(keep.astype(jnp.int32))

    def place(k, carry):
        label, keep = carry
        take = take_largest(score[:, k], mask & ~keep, free[k])
        return jnp.where(take, k, label), keep | take

    label, keep = jax.lax.fori_loop(0, r, place, (label, keep))
    return jnp.where(mask, label, r)


class Split(NamedTuple):
    """A block's split: labels (s,) int32 in ``[0, r)`` (``r`` on padded rows) for its x
    and y rows, and its :class:`SplitDiagnostics`."""

    label_x: jax.Array
    label_y: jax.Array
    diagnostics: SplitDiagnostics


class BlockPoints:
    """The points of one block, read from the whole clouds a chunk of rows at a time.

    Reading position ``i`` gives the normalised point of row ``rows[:, i]`` (see
    :meth:`hiref.costs.Clouds.read`) minus ``centre``, times ``mask[i]``: padded positions
    read as zero, as after :func:`hiref.costs.centre_block`. Each operation reads the block
    once; its temporaries are of chunk size.

    Args:
      clouds: the whole clouds (:class:`hiref.costs.Clouds`, the same for every block);
      rows: (2, s) the block's rows of x and of y (padding: any row); mask: (s,) bool;
      chunk: positions read at once (static; ``s`` is a multiple of it); centre: (d,) or
        None for the origin.
    """

    def __init__(self, clouds: costs.Clouds, rows: jax.Array, mask: jax.Array, chunk: int,
                 centre: jax.Array | None = None):
        self.clouds, self.rows, self.mask, self.chunk = clouds, rows, mask, chunk
        self.chunks = rows.shape[1] // chunk
        self.dtype = clouds.x.dtype
        self.centre = jnp.zeros(clouds.x.shape[1], self.dtype) if centre is None else centre

    def centred(self) -> BlockPoints:
        """The block read relative to the joint mean of its valid x and y points."""
        sums = self.fold(lambda points, _: points.sum(1))
        count = self.mask.astype(self.dtype).sum()
        centre = (sums[0] + sums[1]) / (2 * jnp.maximum(count, 1))
        return BlockPoints(self.clouds, self.rows, self.mask, self.chunk, centre)

    def take(self, side: int, positions: jax.Array) -> jax.Array:
        """The points (t, d) of x (``side`` 0) or y (1) at block ``positions`` (t,)."""
        points = self.clouds.read(side, self.rows[side, positions])
        return (points - self.centre) * self.mask[positions, None].astype(self.dtype)

    def whole(self) -> jax.Array:
        """All the block's points (2, s, d) at once: only for a block read in one chunk."""
        if self.chunks != 1:
            raise ValueError(f"a block read in {self.chunks} chunks cannot be read whole")
        return self._chunk(0)

    def cut(self, values: jax.Array, start) -> jax.Array:
        """The chunk of ``values`` (..., s) that starts at ``start``: (..., chunk)."""
        return jax.lax.dynamic_slice_in_dim(values, start, self.chunk, axis=-1)

    def fold(self, f):
        """The sum over chunks of ``f(points, start)``, ``points`` (2, chunk, d) the chunk's x
        and y points from position ``start``."""
        total = f(self._chunk(0), 0)
        if self.chunks == 1:
            return total
        return jax.lax.fori_loop(
            1, self.chunks, lambda j, total: total + f(self._chunk(j * self.chunk),
                                                       j * self.chunk), total)

    def map(self, f):
        """``f(points, start)`` (..., chunk) for every chunk (see :meth:`fold`), laid end to
        end: (..., s)."""
        if self.chunks == 1:
            return f(self._chunk(0), 0)
        parts = jax.lax.map(lambda j: f(self._chunk(j * self.chunk), j * self.chunk),
                            jnp.arange(self.chunks))
        return jnp.moveaxis(parts, 0, -2).reshape(*parts.shape[1:-1], -1)

    def _chunk(self, start) -> jax.Array:
        return self._read(self.cut(self.rows, start), self.cut(self.mask, start))

    def _read(self, rows: jax.Array, valid: jax.Array) -> jax.Array:
        points = jnp.stack([self.clouds.read(0, rows[0]), self.clouds.read(1, rows[1])])
        return (points - self.centre) * valid[:, None].astype(self.dtype)


class _Factors(NamedTuple):
    """Cost factors ``A`` and ``B`` (2, s, k) stacked, ``A @ B.T ~ C``, zero on padding.

    Products with them keep the co-clusters first: ``W A`` (2, r, k) for weights ``W``
    (2, r, s), and ``P A^T`` (2, r, s) for ``P`` (2, r, k) (the layouts in which XLA's CPU
    products run fastest with a point axis of thousands).
    """

    factors: jax.Array

    def left(self, weights: jax.Array) -> jax.Array:
        """``W_x A`` and ``W_y B`` (2, r, k) for weights ``W`` (2, r, s)."""
        return jnp.einsum("irs,isk->irk", weights, self.factors, precision=HIGHEST)

    def right(self, products: jax.Array) -> jax.Array:
        """``P_x A^T`` and ``P_y B^T`` (2, r, s) for ``P`` (2, r, k)."""
        return jnp.einsum("irk,isk->irs", products, self.factors, precision=HIGHEST)


class _PointFactors:
    """The exact squared Euclidean factors ``A = [|x|^2, 1, -2x]`` and ``B = [1, |y|^2, y]``
    (rank ``k = d + 2``) of a block, with :class:`_Factors`' products: their two scalar
    columns are held (2, s, 2), their point columns read from the block's points a chunk at a
    time (:class:`BlockPoints`), so that no copy of the points is made."""

    def __init__(self, points: BlockPoints):
        self.points = points
        norms = points.map(lambda chunk, _: (chunk * chunk).sum(-1))
        ones = points.mask.astype(points.dtype)
        self.scalars = jnp.stack([jnp.stack([norms[0], ones], -1),
                                  jnp.stack([ones, norms[1]], -1)])
        self.signs = jnp.asarray([-2.0, 1.0], points.dtype)[:, None, None]

    def left(self, weights: jax.Array) -> jax.Array:
        scalars = jnp.einsum("irs,isc->irc", weights, self.scalars, precision=HIGHEST)
        cut = self.points.cut
        tail = self.points.fold(lambda chunk, start: jnp.einsum(
            "irc,icd->ird", cut(weights, start), chunk, precision=HIGHEST))
        return jnp.concatenate([scalars, tail * self.signs], axis=2)

    def right(self, products: jax.Array) -> jax.Array:
        scalars = jnp.einsum("irc,isc->irs", products[:, :, :2], self.scalars,
                             precision=HIGHEST)
        tail = products[:, :, 2:] * self.signs
        return scalars + self.points.map(lambda chunk, _: jnp.einsum(
            "ird,icd->irc", tail, chunk, precision=HIGHEST))


def needs_noise(cost: str, size: int, cost_rank: int) -> bool:
    """Whether a split of blocks of ``size`` points samples the cost (and so needs noise)."""
    return cost == "euclidean" and size > LANDMARKS_PER_RANK * cost_rank


def chunk_rows(cost: str, size: int, cost_rank: int, with_matrix: bool, rows: int) -> int:
    """Positions per chunk of a block of ``size`` read ``rows`` at a time (the level program's
    budget), or the whole block where its dense cost needs it at once (a precomputed matrix,
    or Euclidean blocks small enough for dense costs)."""
    dense = with_matrix or (cost == "euclidean" and not needs_noise(cost, size, cost_rank))
    if dense or rows >= size:
        return size
    # Equal chunks, the last one padded by less than one chunk's worth of positions.
    return -(-size // -(-size // max(1, rows)))


@dataclass(frozen=True)
class SplitProgram:
    """What the program of a split is compiled for (static and hashable; every block of a
    level shares it).

    Attributes:
      cost: the cost's name (``"precomputed"`` for a block of a given matrix).
      cost_rank: rank of the sampled factorisation of the Euclidean cost (see
        :func:`needs_noise`).
      inner_iters: Sinkhorn iterations per projection.
      chunk: positions read at once (see :func:`chunk_rows`); the block is padded to a
        multiple of it.
    """

    cost: str
    cost_rank: int
    inner_iters: int
    chunk: int


def split(
    clouds: costs.Clouds,
    rows: jax.Array,
    mask: jax.Array,
    caps: jax.Array,
    uniforms: jax.Array,
    noise: jax.Array | None,
    matrix: jax.Array | None,
    steps: int | jax.Array,
    gamma: float | jax.Array,
    *,
    program: SplitProgram,
) -> Split:
    """Co-clusters one block: labels for its x rows and its y rows, sizes ``caps`` on both.

    Mirror descent starts from soft assignments of x and y to ``r`` centres (k-means++ seeds
    drawn at ``uniforms``, see :func:`hiref.starts.kmeanspp`), runs ``steps`` steps and rounds
    to exact capacities. Random draws are the caller's (the ``uniforms``, the ``noise``), so
    the program holds no PRNG.

    Args:
      clouds: the whole clouds (:class:`hiref.costs.Clouds`); rows: (2, s) the block's rows
        of x and y (padding: any row); mask: (s,) bool, the same count of valid rows on both
        sides; caps: (r,) int capacities summing to the valid count; uniforms: (r,) in
        [0, 1), the draws of the k-means++ seeds; noise: (2, s) uniforms choosing the landmarks of the sampled cost
        factorisation (only where :func:`needs_noise`, else None); matrix: (s, s) block of a
        precomputed cost (``cost="precomputed"``), else None; steps: mirror-descent steps
        (may be traced).
      gamma: normalised step: each step moves every row of ``log Q`` and ``log R`` by at most
        ``gamma`` between its most and least favoured co-cluster (see ``_Problem.descend``).
      program: the static settings, :class:`SplitProgram`.
    Returns:
      The block's :class:`Split`.
    """
    s, chunk = mask.shape[0], program.chunk
    pad = -s % chunk
    if pad:
        rows = jnp.pad(rows, ((0, 0), (0, pad)))
        mask = jnp.pad(mask, (0, pad))
        noise = None if noise is None else jnp.pad(noise, ((0, 0), (0, pad)))
    points = BlockPoints(clouds, rows, mask, chunk).centred()
    problem = _Problem.build(points, caps, matrix, program.cost, program.cost_rank, noise)
    scaled = problem.descend(points, starts.kmeanspp(points, uniforms), steps=steps,
                             inner_iters=program.inner_iters, gamma=gamma)
    plan = jax.vmap(_Scaled.plan)(scaled)
    log_p = jnp.swapaxes(jax.vmap(_Scaled.log_plan)(scaled), 1, 2)
    labels = jax.vmap(round_to_capacity, in_axes=(0, None, None))(log_p, mask, caps)
    moved = (mask & (labels != jnp.argmax(log_p, axis=2))).sum(dtype=jnp.int32)
    return Split(labels[0, :s], labels[1, :s], SplitDiagnostics(
        objective=problem.soft_objective(plan),
        marginal_error=problem.marginal_error(plan),
        moved=moved,
    ))


def _sampled_factors(points: BlockPoints, noise: jax.Array, rank: int) -> jax.Array:
    """:func:`hiref.costs.sampled_factors` of a block (2, s, rank) from
    ``LANDMARKS_PER_RANK * rank`` landmarks, its landmark columns and rows computed a chunk of
    points at a time."""
    rows_i, cols_j = costs.sample_rows(noise, points.mask, LANDMARKS_PER_RANK * rank)
    landmarks_x, landmarks_y = points.take(0, rows_i), points.take(1, cols_j)
    c_xj = points.map(lambda chunk, _: costs.pairwise(landmarks_y, chunk[0], "euclidean"))
    c_iy = points.map(lambda chunk, _: costs.pairwise(landmarks_x, chunk[1], "euclidean"))
    return jnp.stack(costs.skeleton_factors(c_xj.T, c_iy, rows_i, rank, points.mask))


class _Problem:
    """The low-rank problem of one block, x and y stacked on a leading axis of two.

    Attributes:
      factors: the cost factors ``A`` and ``B`` (:class:`_Factors`, or :class:`_PointFactors`
        for the squared Euclidean cost), rank ``k``; mask: (s,) bool; log_a: (s,) the
        uniform point marginal (``-inf`` on padding); log_g: (r,) the co-cluster proportions.
    Plans ``Q`` (of x) and ``R`` (of y) are likewise stacked, co-clusters first: (2, r, s), so
    that the sums over co-clusters run along the vectorised point axis.
    """

    def __init__(self, factors, mask, log_g):
        self.factors, self.mask, self.log_g = factors, mask, log_g
        count = mask.sum().astype(log_g.dtype)
        self.log_a = jnp.where(mask, -jnp.log(count), _NEG)

    @classmethod
    def build(cls, points: BlockPoints, caps, matrix, cost, cost_rank, noise):
        mask = points.mask
        s = mask.shape[0]
        log_g = jnp.log(caps.astype(points.dtype) / caps.sum())
        if cost == "sqeuclidean" and matrix is None:
            return cls(_PointFactors(points), mask, log_g)
        if matrix is None and needs_noise(cost, s, cost_rank):
            return cls(_Factors(_sampled_factors(points, noise, cost_rank)), mask, log_g)
        if matrix is None:
            block = points.whole()
            matrix = costs.pairwise(block[0], block[1], cost)
        factors = jnp.stack([matrix, jnp.eye(s, dtype=points.dtype)])
        return cls(_Factors(factors * mask[None, :, None]), mask, log_g)

    def _project(self, log_k, inner_iters):
        return jax.vmap(_project, in_axes=(0, None, None, None, None))(
            log_k, self.log_a, self.log_g, self.mask, inner_iters)

    def _factor_products(self, scaled: _Scaled) -> jax.Array:
        """``Q A`` and ``R B`` (2, r, k), read through the kernel and the scalings."""
        top = scaled.log_u.max(axis=1, keepdims=True)
        weights = scaled.kernel * jnp.exp(scaled.log_u - top)[:, None, :]
        return self.factors.left(weights) * jnp.exp(scaled.log_v + top)[:, :, None]

    def descend(self, points: BlockPoints, centres, *, steps, inner_iters, gamma) -> _Scaled:
        """LOT mirror descent: returns the plans ``(Q, R)`` in the scaling domain.

        The start is the soft assignment of the block's ``points`` to the ``centres`` (r, d)
        (in the block's centred coordinates),
        ``log Q ~ -|x - c|^2 / mean``, projected on the marginals; then ``steps`` steps. The
        gradient of ``<C, Q diag(1/g) R^T>`` in ``Q`` is ``A B^T R diag(1/g)`` (in ``R``,
        ``B A^T Q diag(1/g)``); parts constant along a row are absorbed by the projection, so
        the step size is ``gamma`` divided by the largest spread (max - min over co-clusters)
        of a row of either gradient: invariant to the cost's scale, and ``gamma`` bounds how
        far one step moves a row. The start's projection is the loop's step 0 (step size
        zero), so the program holds one projection. The log-plan of a step is ``log_k - shift
        + log_u + log_v``; the next log-kernel adds the step to it directly, so no plan is
        materialised between steps.
        """
        inv_g = jnp.exp(-self.log_g)
        d2 = points.map(lambda chunk, _: (
            (chunk[:, None, :, :] - centres[None, :, None, :]) ** 2).sum(-1))
        valid = self.mask[None, None, :]
        scale = jnp.maximum(jnp.where(valid, d2, 0.0).mean(), costs.DIVISOR_FLOOR)

        def step(k, scaled):
            # The gradient of Q pairs A with B^T R, that of R pairs B with A^T Q.
            products = self._factor_products(scaled)[::-1] * inv_g[:, None]
            grad = self.factors.right(products)
            spread = jnp.where(self.mask, grad.max(1) - grad.min(1), 0.0).max()
            size = jnp.where(k > 0, gamma / jnp.maximum(spread, costs.DIVISOR_FLOOR), 0.0)
            log_k = (scaled.log_k + (scaled.log_u - scaled.shift)[:, None, :]
                     + scaled.log_v[:, :, None] - size * grad)
            return self._project(log_k, inner_iters)

        log_k = jnp.where(valid, -d2 / scale, _NEG)
        zeros = jnp.zeros(d2.shape[::2], d2.dtype)
        start = _Scaled(log_k, jnp.zeros_like(d2), zeros, zeros,
                        jnp.zeros(d2.shape[:2], d2.dtype))
        return jax.lax.fori_loop(0, steps + 1, step, start)

    def soft_objective(self, plan):
        """``<C, Q diag(1/g) R^T>`` of ``plan = (Q, R)`` (2, r, s), from the factors."""
        q_a, r_b = self.factors.left(plan)
        return (q_a * r_b * jnp.exp(-self.log_g)[:, None]).sum()

    def marginal_error(self, plan):
        """The larger L1 distance of the point sums of ``Q`` and of ``R`` (2, r, s) from
        ``a``."""
        error = jnp.abs(plan.sum(1) - jnp.exp(self.log_a))
        return jnp.where(self.mask, error, 0.0).sum(1).max()
