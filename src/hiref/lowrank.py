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


def _project(log_k: jax.Array, log_a: jax.Array, log_g: jax.Array, mask: jax.Array,
             iters: int) -> tuple[jax.Array, jax.Array]:
    """Sinkhorn projection of the kernel ``exp(log_k)`` onto row sums ``a`` and column sums
    ``g``, in the scaling domain with one ``exp`` of the (s, r) kernel per call.

    The kernel is stabilised per row (largest entry one; in the products, entries floored, see
    ``KERNEL_FLOOR_SHARE``) and the scalings are kept as logarithms; each matrix-vector
    product uses scalings divided by their largest, so nothing overflows or underflows
    whatever the iteration count.

    Args:
      log_k: (s, r) log-kernel (rows of padding arbitrary); log_a: (s,), ``-inf`` on padding;
        log_g: (r,); mask: (s,) bool; iters: Sinkhorn iterations (at least one).
    Returns:
      ``(log P, P)``, each (s, r): the projected plan, ``-inf`` / 0 on padded rows; its column
      sums are ``g`` exactly, its row sums ``a`` up to the remaining marginal error.
    """
    row_max = jnp.where(mask, log_k.max(axis=1), 0.0)
    log_k = jnp.where(mask[:, None], log_k - row_max[:, None], _NEG)
    # The floor bounds the scalings; the log-plan returned keeps the unfloored kernel, whose
    # tail still ranks the unlikely co-clusters of a row (the rounding needs that order).
    floor = KERNEL_FLOOR_SHARE * float(np.log(np.finfo(log_k.dtype).tiny))
    kernel = jnp.where(mask[:, None], jnp.exp(jnp.maximum(log_k, floor)), 0.0)

    def rows(log_v):
        top = log_v.max()
        return jnp.where(mask, log_a - jnp.log(kernel @ jnp.exp(log_v - top)) - top, _NEG)

    def cols(log_u):
        top = log_u.max()
        return log_g - jnp.log(kernel.T @ jnp.exp(log_u - top)) - top

    def step(_, scalings):
        log_u = rows(scalings[1])
        return log_u, cols(log_u)

    # One instance of each half-iteration in the program (a smaller program compiles faster).
    log_u, log_v = jax.lax.fori_loop(0, iters, step, (log_a, jnp.zeros_like(log_g)))
    # With the largest u scaled to one, its row's entries K_ik >= exp(floor) bound every
    # exp(log_v + top) by exp(-floor) (a plan entry is at most one), so the product below
    # cannot overflow.
    top = log_u.max()
    plan = kernel * jnp.exp(log_u - top)[:, None] * jnp.exp(log_v + top)[None, :]
    return log_k + log_u[:, None] + log_v[None, :], plan


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
    log_p, plan = problem.descend(centres - centre, steps=steps, inner_iters=inner_iters,
                                  gamma=gamma)
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
        row marginal (``-inf`` on padding); log_g: (r,) the co-cluster proportions.
    Plans ``Q`` (of x) and ``R`` (of y) are likewise stacked, (2, s, r).
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

    def descend(self, centres, *, steps, inner_iters, gamma):
        """LOT mirror descent: returns ``(log P, P)``, P = (Q, R) (2, s, r).

        The start is the soft assignment of x and y to the ``centres`` (r, d), ``log Q ~
        -|x - c|^2 / mean``, projected on the marginals; then ``steps`` steps. The gradient
        of ``<C, Q diag(1/g) R^T>`` in ``Q`` is ``A B^T R diag(1/g)`` (in ``R``, ``B A^T Q
        diag(1/g)``); parts constant along a row are absorbed by the projection, so the step
        size is ``gamma`` divided by the largest spread (max - min over co-clusters) of a row
        of either gradient: invariant to the cost's scale, and ``gamma`` bounds how far one
        step moves a row. The start's projection is the loop's step 0 (step size zero), so
        the program holds one projection.
        """
        inv_g = jnp.exp(-self.log_g)
        factors, other = self.factors, self.factors[::-1]
        d2 = ((self.points[:, :, None, :] - centres[None, None]) ** 2).sum(-1)
        scale = jnp.maximum(jnp.where(self.mask[None, :, None], d2, 0.0).mean(), 1e-30)

        def step(k, state):
            log_p, plan = state
            grad = jnp.einsum("isk,ikr->isr", factors,
                              jnp.einsum("isk,isr->ikr", other, plan[::-1])) * inv_g
            spread = jnp.where(self.mask, grad.max(2) - grad.min(2), 0.0).max()
            size = jnp.where(k > 0, gamma / jnp.maximum(spread, 1e-30), 0.0)
            return self._project(log_p - size * grad, inner_iters)

        start = (-d2 / scale, jnp.zeros_like(d2))
        return jax.lax.fori_loop(0, steps + 1, step, start)

    def soft_objective(self, plan):
        """``<C, Q diag(1/g) R^T>`` of ``plan = (Q, R)`` (2, s, r), from the factors."""
        a_q, b_r = jnp.einsum("isk,isr->ikr", self.factors, plan)
        return (a_q * b_r * jnp.exp(-self.log_g)).sum()

    def marginal_error(self, plan):
        """The larger L1 distance of the row sums of ``Q`` and of ``R`` (2, s, r) from ``a``."""
        error = jnp.abs(plan.sum(2) - jnp.exp(self.log_a))
        return jnp.where(self.mask, error, 0.0).sum(1).max()
