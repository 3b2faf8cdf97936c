"""The split of one block into ``r`` co-clusters of prescribed sizes: low-rank OT by mirror
descent with a fixed inner marginal (LOT, Scetbon, Cuturi and Peyre 2021), then a rounding of
the soft assignments to hard ones with exact capacities.

Everything here works on one padded block; :func:`split_blocks` vmaps it over all the blocks
of a level. Fixed iteration counts (no per-block convergence loops) keep the batched
computation cheap: the rounding, not convergence, guarantees a valid split.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hiref import assignment, costs

_NEG = -jnp.inf


def _project(log_k: jax.Array, log_a: jax.Array, log_g: jax.Array, mask: jax.Array, iters: int):
    """Log-domain Sinkhorn: ``log P = log_k + f + h`` with row sums ``a`` and column sums ``g``.

    Args:
      log_k: (s, r) log-kernel, ``-inf`` on padded rows; log_a: (s,); log_g: (r,).
    Returns:
      (s, r) log of the projected plan (``-inf`` on padded rows).
    """

    def step(_, fh):
        f, h = fh
        f = jnp.where(mask, log_a - jax.nn.logsumexp(log_k + h[None, :], axis=1), 0.0)
        h = log_g - jax.nn.logsumexp(log_k + f[:, None], axis=0)
        return f, h

    f0 = jnp.zeros(log_k.shape[0], log_k.dtype)
    h0 = jnp.zeros(log_k.shape[1], log_k.dtype)
    f, h = jax.lax.fori_loop(0, iters, step, (f0, h0))
    return log_k + f[:, None] + h[None, :]


def _kmeanspp_centres(points: jax.Array, mask: jax.Array, r: int, key: jax.Array) -> jax.Array:
    """``r`` seeding centres drawn by k-means++ among the valid rows of ``points`` (s, d)."""
    keys = jax.random.split(key, r)
    first = jax.random.categorical(keys[0], jnp.where(mask, 0.0, _NEG))
    centres = jnp.zeros((r, points.shape[1]), points.dtype).at[0].set(points[first])
    nearest = ((points - points[first]) ** 2).sum(-1)

    def add(k, carry):
        centres, nearest = carry
        logits = jnp.where(mask & (nearest > 0), jnp.log(jnp.maximum(nearest, 1e-30)), _NEG)
        # All valid points coincide with a centre already: fall back to any valid point.
        logits = jnp.where(jnp.isfinite(logits).any(), logits, jnp.where(mask, 0.0, _NEG))
        pick = jax.random.categorical(keys[k], logits)
        centres = centres.at[k].set(points[pick])
        nearest = jnp.minimum(nearest, ((points - points[pick]) ** 2).sum(-1))
        return centres, nearest

    return jax.lax.fori_loop(1, r, add, (centres, nearest))[0]


def round_to_capacity(score: jax.Array, mask: jax.Array, caps: jax.Array) -> jax.Array:
    """Hard labels with exactly ``caps[k]`` valid rows in cluster ``k``.

    Each row first takes its best cluster; a cluster over capacity keeps its highest-scoring
    rows. The rows left over are then placed cluster by cluster, each taking the best of the
    remaining rows up to its free capacity, so the result is always capacity-exact.

    Args:
      score: (s, r) preference of row i for cluster k; mask: (s,) bool; caps: (r,) int with
        ``caps.sum() == mask.sum()``.
    Returns:
      (s,) int32 labels; padded rows get label ``r``.
    """
    s, r = score.shape
    score = jnp.where(mask[:, None], score, _NEG)
    label = jnp.argmax(score, axis=1).astype(jnp.int32)
    best = score.max(axis=1)
    order = jnp.lexsort((-best, jnp.where(mask, label, r)))
    sorted_label = jnp.where(mask, label, r)[order]
    counts = jnp.zeros(r + 1, jnp.int32).at[sorted_label].add(1)
    starts = jnp.cumsum(counts) - counts
    rank_sorted = jnp.arange(s) - starts[sorted_label]
    rank = jnp.zeros(s, jnp.int32).at[order].set(rank_sorted)
    keep = mask & (rank < caps[label])
    free = caps - jnp.zeros(r, jnp.int32).at[label].add(keep.astype(jnp.int32))

    def place(k, carry):
        label, keep = carry
        waiting = mask & ~keep
        col = jnp.where(waiting, score[:, k], _NEG)
        # Rows that cannot be scored (-inf) still rank after every scored row, by index.
        place_order = jnp.lexsort((jnp.arange(s), -col, ~waiting))
        position = jnp.zeros(s, jnp.int32).at[place_order].set(jnp.arange(s))
        take = waiting & (position < free[k])
        return jnp.where(take, k, label), keep | take

    label, keep = jax.lax.fori_loop(0, r, place, (label, keep))
    return jnp.where(mask, label, r)


# Candidate splits are judged by how well they agree with an exact matching of this many
# random x and y points of the block.
PROBE_POINTS = 512
TRIAL_STEPS = 5


def split_block(
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    caps: jax.Array,
    key: jax.Array,
    matrix: jax.Array | None = None,
    *,
    cost: str,
    cost_rank: int,
    outer_iters: int,
    inner_iters: int,
    gamma: float,
    restarts: int = 1,
) -> tuple[jax.Array, jax.Array]:
    """Co-clusters one block: labels for its x rows and its y rows, sizes ``caps`` on both.

    With ``restarts > 1``, that many candidate splits from different k-means++ starts run, one
    after another, for ``TRIAL_STEPS`` steps; the one whose co-clusters hold the most
    pairs of an exact matching between ``PROBE_POINTS`` random x and y points (ties: the
    lowest co-clustering cost) runs the remaining steps. Agreement with a matching, not the
    low-rank objective, decides, because the lowest-objective split can cut across the
    transport map.

    Args:
      x, y: (s, d) padded points; mask: (s,) bool, the same count of valid rows on both sides;
        caps: (r,) int capacities summing to the valid count; key: PRNG key; matrix: (s, s)
        block of a precomputed cost (``cost="precomputed"``), else None.
    Returns:
      ``(label_x, label_y)``, each (s,) int32 in ``[0, r)`` (``r`` on padded rows).
    """
    x, y = costs.centre_block(x, y, mask)
    key_starts, key_factor, key_probe = jax.random.split(key, 3)
    problem = _Problem.build(x, y, mask, caps, matrix, cost, cost_rank, key_factor)
    both = jnp.concatenate([x, y]), jnp.concatenate([mask, mask])
    settings = {"inner_iters": inner_iters, "gamma": gamma}

    def candidate(key, steps):
        centres = _kmeanspp_centres(*both, caps.shape[0], key)
        return problem.descend(problem.start(centres, inner_iters), steps=steps, **settings)

    def labels(log_q, log_r):
        return round_to_capacity(log_q, mask, caps), round_to_capacity(log_r, mask, caps)

    if restarts == 1:
        return labels(*candidate(key_starts, outer_iters))
    # Candidates run the first steps only (the split is mostly decided by then); the winner
    # alone runs the rest. Judging them needs no capacity-exact rounding.
    trial = min(outer_iters, TRIAL_STEPS)
    # One candidate at a time: their (s, r) plans together would hold restarts times the
    # memory of the level.
    log_q, log_r = jax.lax.map(lambda key: candidate(key, trial),
                               jax.random.split(key_starts, restarts))
    label_x, label_y = (jnp.where(mask, jnp.argmax(log_p, axis=2), caps.shape[0])
                        for log_p in (log_q, log_r))
    agree = _matching_agreement(x, y, mask, matrix, label_x, label_y, cost, key_probe)
    best = jnp.lexsort((jax.vmap(problem.hard_objective)(label_x, label_y), -agree))[0]
    return labels(*problem.descend((log_q[best], log_r[best]), steps=outer_iters - trial,
                                   **settings))


def _matching_agreement(x, y, mask, matrix, label_x, label_y, cost, key):
    """How many pairs of an exact matching between random valid x and y points of the block
    fall in one co-cluster, for each candidate split ``label_x, label_y`` (R, s) -> (R,)."""
    ix, iy = costs.sample_rows(key, mask, min(x.shape[0], PROBE_POINTS))
    # Valid rows come first in both samples, so x and y padding line up.
    valid = mask[ix]
    block = (costs.pairwise(x[ix], y[iy], cost) if matrix is None
             else matrix[ix[:, None], iy[None, :]])
    partner = iy[assignment.assign(assignment.padded_cost(block, valid))]
    return ((label_x[:, ix] == label_y[:, partner]) & valid).sum(1)


class _Problem:
    """The low-rank problem of one block: cost factors ``A (s, k)``, ``B (s, k)`` with
    ``A @ B.T ~ C``, the marginals and the cost scale."""

    def __init__(self, x, y, fa, fb, mask, log_g):
        self.x, self.y, self.fa, self.fb, self.mask, self.log_g = x, y, fa, fb, mask, log_g
        count = mask.sum()
        self.log_a = jnp.where(mask, -jnp.log(count.astype(x.dtype)), _NEG)
        # Mean cost over valid pairs, exact from the factors: costs of order one keep the
        # step size meaningful whatever the data's scale.
        scale = (fa.sum(0) @ fb.sum(0)) / (count * count)
        self.scale = jnp.where(scale > 0, scale, 1.0)

    @classmethod
    def build(cls, x, y, mask, caps, matrix, cost, cost_rank, key):
        s = x.shape[0]
        if matrix is not None:
            fa, fb = matrix, jnp.eye(s, dtype=x.dtype)
        elif cost == "sqeuclidean":
            fa, fb = costs.sqeuclidean_factors(x, y)
        elif s <= 4 * cost_rank:
            fa, fb = costs.pairwise(x, y, cost), jnp.eye(s, dtype=x.dtype)
        else:
            fa, fb = costs.sampled_factors(x, y, mask, cost_rank, key)
        log_g = jnp.log(caps.astype(x.dtype) / caps.sum())
        return cls(x, y, fa * mask[:, None], fb * mask[:, None], mask, log_g)

    def start(self, centres, inner_iters):
        """Soft assignments of x and y to co-cluster centres (r, d), projected on the
        marginals: the start ``(log Q, log R)``, each (s, r), of mirror descent."""

        def seed(points):
            d2 = ((points[:, None, :] - centres[None]) ** 2).sum(-1)
            logits = jnp.where(self.mask[:, None], -d2 / jnp.maximum(d2.mean(), 1e-30), _NEG)
            return _project(logits, self.log_a, self.log_g, self.mask, inner_iters)

        return seed(self.x), seed(self.y)

    def descend(self, start, *, steps, inner_iters, gamma):
        """``steps`` of LOT mirror descent from ``start = (log Q, log R)``."""
        mask, log_a, log_g, fa, fb = self.mask, self.log_a, self.log_g, self.fa, self.fb
        inv_g = jnp.exp(-log_g)

        def step(_, qr):
            log_q, log_r = qr
            q, rr = jnp.exp(log_q), jnp.exp(log_r)
            grad_q = fa @ (fb.T @ rr) * inv_g / self.scale
            grad_r = fb @ (fa.T @ q) * inv_g / self.scale
            # Row-constant parts of a gradient are absorbed by the projection: step on the
            # range.
            spread = jnp.maximum(
                jnp.where(mask, grad_q.max(1) - grad_q.min(1), 0.0).max(),
                jnp.where(mask, grad_r.max(1) - grad_r.min(1), 0.0).max(),
            )
            size = gamma / jnp.maximum(spread, 1e-12)
            log_q = _project(log_q - size * grad_q, log_a, log_g, mask, inner_iters)
            log_r = _project(log_r - size * grad_r, log_a, log_g, mask, inner_iters)
            return log_q, log_r

        return jax.lax.fori_loop(0, steps, step, start)

    def hard_objective(self, label_x, label_y):
        """Proportional to the mean cost between co-clustered points (an upper bound on the
        block's transport cost), from the factors."""
        r = self.log_g.shape[0]
        sum_x = jnp.zeros((r + 1, self.fa.shape[1]), self.fa.dtype).at[label_x].add(self.fa)
        sum_y = jnp.zeros((r + 1, self.fb.shape[1]), self.fb.dtype).at[label_y].add(self.fb)
        return ((sum_x * sum_y)[:r].sum(1) * jnp.exp(-self.log_g)).sum()
