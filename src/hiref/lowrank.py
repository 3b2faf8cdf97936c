"""The split of one block into ``r`` co-clusters of prescribed sizes: low-rank OT by mirror
descent with a fixed inner marginal (LOT, Scetbon, Cuturi and Peyre 2021), then a rounding of
the soft assignments to hard ones with exact capacities.

Everything here works on one padded block; the solver's level program ``jax.vmap``-s
:func:`split_block` over all the blocks of a level. Fixed iteration counts (no per-block
convergence loops) keep the batched computation cheap: the rounding, not convergence,
guarantees a valid split, and :class:`SplitDiagnostics` shows how far from converged a split
was.
"""

from __future__ import annotations

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


def split_block(x, y, mask, caps, key, matrix=None, *, cost, cost_rank, outer_iters,
                inner_iters, gamma) -> tuple[jax.Array, jax.Array]:
    """The labels ``(label_x, label_y)`` of :func:`split` from a PRNG ``key``: k-means++
    centres drawn on the host (:func:`hiref.starts.kmeanspp`, through ``jax.pure_callback``)
    and uniforms for the sampled cost factors. Usable inside ``jax.jit``."""
    key_start, key_factor = jax.random.split(key)
    r, (s, d) = caps.shape[0], x.shape

    def seeds(x, y, mask, bits):
        rng = np.random.default_rng(np.asarray(bits, np.uint64))
        pooled = np.concatenate([x, y])[None]
        return starts.kmeanspp(pooled, np.concatenate([mask, mask])[None], r, rng)[0]

    centres = jax.pure_callback(seeds, jax.ShapeDtypeStruct((r, d), x.dtype), x, y, mask,
                                jax.random.bits(key_start, (2,), jnp.uint32))
    noise = (jax.random.uniform(key_factor, (2, s), x.dtype)
             if needs_noise(cost, s, cost_rank) else None)
    return split(x, y, mask, caps, centres, noise, matrix, outer_iters, cost=cost,
                 cost_rank=cost_rank, inner_iters=inner_iters, gamma=gamma)[:2]


def needs_noise(cost: str, size: int, cost_rank: int) -> bool:
    """Whether a split of blocks of ``size`` points samples the cost (and so needs noise)."""
    return cost == "euclidean" and size > 4 * cost_rank


def split(
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    caps: jax.Array,
    centres: jax.Array,
    noise: jax.Array | None,
    matrix: jax.Array | None,
    steps: int | jax.Array,
    *,
    cost: str,
    cost_rank: int,
    inner_iters: int,
    gamma: float | jax.Array,
) -> Split:
    """Co-clusters one block: labels for its x rows and its y rows, sizes ``caps`` on both.

    Mirror descent starts from soft assignments of x and y to the ``r`` ``centres`` (k-means++
    seeds, or the centroids of a chosen candidate split; see :mod:`hiref.starts`), runs
    ``steps`` steps and rounds to exact capacities. Random draws are the caller's (the
    centres, the ``noise``), so the program holds no PRNG.

    Args:
      x, y: (s, d) padded points; mask: (s,) bool, the same count of valid rows on both sides;
        caps: (r,) int capacities summing to the valid count; centres: (r, d); noise: (2, s)
        uniforms choosing the landmarks of the sampled cost factorisation (only where
        :func:`needs_noise`, else None); matrix: (s, s) block of a precomputed cost
        (``cost="precomputed"``), else None; steps: mirror-descent steps (may be traced).
      gamma: normalised step: each step moves every row of ``log Q`` and ``log R`` by at most
        ``gamma`` between its most and least favoured co-cluster (see ``_Problem.descend``).
    Returns:
      The block's :class:`Split`.
    """
    centre = costs.block_centre(x, y, mask)
    x, y = costs.centre_block(x, y, mask, centre)
    problem = _Problem.build(x, y, mask, caps, matrix, cost, cost_rank, noise)
    scaled = problem.descend(centres - centre, steps=steps, inner_iters=inner_iters,
                             gamma=gamma)
    plan = jax.vmap(_Scaled.plan)(scaled)
    log_p = jnp.swapaxes(jax.vmap(_Scaled.log_plan)(scaled), 1, 2)
    labels = jax.vmap(round_to_capacity, in_axes=(0, None, None))(log_p, mask, caps)
    moved = (mask & (labels != jnp.argmax(log_p, axis=2))).sum(dtype=jnp.int32)
    return Split(labels[0], labels[1], SplitDiagnostics(
        objective=problem.soft_objective(plan),
        marginal_error=problem.marginal_error(plan),
        moved=moved,
    ))


class _Problem:
    """The low-rank problem of one block, x and y stacked on a leading axis of two.

    Attributes:
      points: (2, s, d) the block's x and y; factors: (2, s, k) cost factors ``A`` and ``B``
        with ``A @ B.T ~ C`` (zero on padded rows); mask: (s,) bool; log_a: (s,) the uniform
        point marginal (``-inf`` on padding); log_g: (r,) the co-cluster proportions.
    Plans ``Q`` (of x) and ``R`` (of y) are likewise stacked, co-clusters first: (2, r, s), so
    that the sums over co-clusters run along the vectorised point axis.
    """

    def __init__(self, points, factors, mask, log_g):
        self.points, self.factors, self.mask, self.log_g = points, factors, mask, log_g
        count = mask.sum().astype(points.dtype)
        self.log_a = jnp.where(mask, -jnp.log(count), _NEG)

    @classmethod
    def build(cls, x, y, mask, caps, matrix, cost, cost_rank, noise):
        s = x.shape[0]
        log_g = jnp.log(caps.astype(x.dtype) / caps.sum())
        if matrix is not None:
            fa, fb = matrix, jnp.eye(s, dtype=x.dtype)
        elif cost == "sqeuclidean":
            fa, fb = costs.sqeuclidean_factors(x, y)
        elif not needs_noise(cost, s, cost_rank):
            fa, fb = costs.pairwise(x, y, cost), jnp.eye(s, dtype=x.dtype)
        else:
            fa, fb = costs.sampled_factors(x, y, mask, cost_rank, noise=noise)
        return cls(jnp.stack([x, y]), jnp.stack([fa, fb]) * mask[None, :, None], mask, log_g)

    def _project(self, log_k, inner_iters):
        return jax.vmap(_project, in_axes=(0, None, None, None, None))(
            log_k, self.log_a, self.log_g, self.mask, inner_iters)

    def _factor_products(self, scaled: _Scaled) -> jax.Array:
        """``A^T Q`` and ``B^T R`` (2, k, r), read through the kernel and the scalings."""
        top = scaled.log_u.max(axis=1, keepdims=True)
        weighted = self.factors * jnp.exp(scaled.log_u - top)[:, :, None]
        product = jnp.einsum("isk,irs->ikr", weighted, scaled.kernel, precision=HIGHEST)
        return product * jnp.exp(scaled.log_v + top)[:, None, :]

    def descend(self, centres, *, steps, inner_iters, gamma) -> _Scaled:
        """LOT mirror descent: returns the plans ``(Q, R)`` in the scaling domain.

        The start is the soft assignment of x and y to the ``centres`` (r, d), ``log Q ~
        -|x - c|^2 / mean``, projected on the marginals; then ``steps`` steps. The gradient
        of ``<C, Q diag(1/g) R^T>`` in ``Q`` is ``A B^T R diag(1/g)`` (in ``R``, ``B A^T Q
        diag(1/g)``); parts constant along a row are absorbed by the projection, so the step
        size is ``gamma`` divided by the largest spread (max - min over co-clusters) of a row
        of either gradient: invariant to the cost's scale, and ``gamma`` bounds how far one
        step moves a row. The start's projection is the loop's step 0 (step size zero), so
        the program holds one projection. The log-plan of a step is ``log_k - shift + log_u +
        log_v``; the next log-kernel adds the step to it directly, so no plan is
        materialised between steps.
        """
        inv_g = jnp.exp(-self.log_g)
        d2 = ((self.points[:, None, :, :] - centres[None, :, None, :]) ** 2).sum(-1)
        valid = self.mask[None, None, :]
        scale = jnp.maximum(jnp.where(valid, d2, 0.0).mean(), 1e-30)

        def step(k, scaled):
            # The gradient of Q pairs A with B^T R, that of R pairs B with A^T Q.
            products = self._factor_products(scaled)[::-1] * inv_g
            grad = jnp.einsum("isk,ikr->irs", self.factors, products, precision=HIGHEST)
            spread = jnp.where(self.mask, grad.max(1) - grad.min(1), 0.0).max()
            size = jnp.where(k > 0, gamma / jnp.maximum(spread, 1e-30), 0.0)
            log_k = (scaled.log_k + (scaled.log_u - scaled.shift)[:, None, :]
                     + scaled.log_v[:, :, None] - size * grad)
            return self._project(log_k, inner_iters)

        log_k = jnp.where(valid, -d2 / scale, _NEG)
        zeros = jnp.zeros(self.points.shape[:2], d2.dtype)
        start = _Scaled(log_k, jnp.zeros_like(d2), zeros, zeros,
                        jnp.zeros((2, d2.shape[1]), d2.dtype))
        return jax.lax.fori_loop(0, steps + 1, step, start)

    def soft_objective(self, plan):
        """``<C, Q diag(1/g) R^T>`` of ``plan = (Q, R)`` (2, r, s), from the factors."""
        a_q, b_r = jnp.einsum("isk,irs->ikr", self.factors, plan, precision=HIGHEST)
        return (a_q * b_r * jnp.exp(-self.log_g)).sum()

    def marginal_error(self, plan):
        """The larger L1 distance of the point sums of ``Q`` and of ``R`` (2, r, s) from
        ``a``."""
        error = jnp.abs(plan.sum(1) - jnp.exp(self.log_a))
        return jnp.where(self.mask, error, 0.0).sum(1).max()
