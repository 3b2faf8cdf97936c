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

from hiref import costs

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

    Args:
      x, y: (s, d) padded points; mask: (s,) bool, the same count of valid rows on both sides;
        caps: (r,) int capacities summing to the valid count; key: PRNG key; matrix: (s, s)
        block of a precomputed cost (``cost="precomputed"``), else None.
    Returns:
      ``(label_x, label_y)``, each (s,) int32 in ``[0, r)`` (``r`` on padded rows).
    """
    x, y = costs.centre_block(x, y, mask)
    count = mask.sum()
    log_a = jnp.where(mask, -jnp.log(count.astype(x.dtype)), _NEG)
    log_g = jnp.log(caps.astype(x.dtype) / count)
    key_init, key_factor = jax.random.split(key)

    s = x.shape[0]
    if matrix is not None:
        fa, fb = matrix, jnp.eye(s, dtype=x.dtype)
    elif cost == "sqeuclidean":
        fa, fb = costs.sqeuclidean_factors(x, y)
    elif s <= 4 * cost_rank:
        fa, fb = costs.pairwise(x, y, cost), jnp.eye(s, dtype=x.dtype)
    else:
        fa, fb = costs.sampled_factors(x, y, mask, cost_rank, key_factor)
    fa = fa * mask[:, None]
    fb = fb * mask[:, None]
    # Mean cost over valid pairs, exact from the factors: costs of order one keep the step
    # size meaningful whatever the data's scale.
    scale = (fa.sum(0) @ fb.sum(0)) / (count * count)
    scale = jnp.where(scale > 0, scale, 1.0)

    def attempt(key_init):
        return _mirror_descent(x, y, fa, fb, scale, mask, caps, log_a, log_g, key_init,
                               outer_iters=outer_iters, inner_iters=inner_iters, gamma=gamma)

    label_x, label_y, objective = jax.vmap(attempt)(jax.random.split(key_init, restarts))
    best = jnp.argmin(objective)
    return label_x[best], label_y[best]


def _mirror_descent(x, y, fa, fb, scale, mask, caps, log_a, log_g, key, *, outer_iters,
                    inner_iters, gamma):
    """One LOT run from a k-means++ start: hard labels for x and y and their objective, the
    mean cost between co-clustered points (an upper bound on the block's transport cost)."""
    r = caps.shape[0]
    centres = _kmeanspp_centres(jnp.concatenate([x, y]), jnp.concatenate([mask, mask]), r,
                                key)

    def seed_logits(points):
        d2 = ((points[:, None, :] - centres[None]) ** 2).sum(-1)
        return -d2 / jnp.maximum(d2.mean(), 1e-30)

    log_q = _project(jnp.where(mask[:, None], seed_logits(x), _NEG), log_a, log_g, mask,
                     inner_iters)
    log_r = _project(jnp.where(mask[:, None], seed_logits(y), _NEG), log_a, log_g, mask,
                     inner_iters)
    inv_g = jnp.exp(-log_g)

    def descend(_, qr):
        log_q, log_r = qr
        q, rr = jnp.exp(log_q), jnp.exp(log_r)
        grad_q = fa @ (fb.T @ rr) * inv_g / scale
        grad_r = fb @ (fa.T @ q) * inv_g / scale
        # Row-constant parts of a gradient are absorbed by the projection: step on the range.
        spread = jnp.maximum(
            jnp.where(mask, grad_q.max(1) - grad_q.min(1), 0.0).max(),
            jnp.where(mask, grad_r.max(1) - grad_r.min(1), 0.0).max(),
        )
        step = gamma / jnp.maximum(spread, 1e-12)
        log_q = _project(log_q - step * grad_q, log_a, log_g, mask, inner_iters)
        log_r = _project(log_r - step * grad_r, log_a, log_g, mask, inner_iters)
        return log_q, log_r

    log_q, log_r = jax.lax.fori_loop(0, outer_iters, descend, (log_q, log_r))
    label_x = round_to_capacity(log_q, mask, caps)
    label_y = round_to_capacity(log_r, mask, caps)
    sum_x = jnp.zeros((r + 1, fa.shape[1]), fa.dtype).at[label_x].add(fa)[:r]
    sum_y = jnp.zeros((r + 1, fb.shape[1]), fb.dtype).at[label_y].add(fb)[:r]
    objective = ((sum_x * sum_y).sum(1) / jnp.maximum(caps, 1)).sum()
    return label_x, label_y, objective
