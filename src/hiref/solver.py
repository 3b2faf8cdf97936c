"""Hierarchical Refinement: ``solve(x, y)`` returns a bijection (or, for ``|X| != |Y|``, a sparse
coupling) approximating the optimal transport map, in memory linear in ``n``.

The points are kept in two index orders, ``order_x`` and ``order_y``, in which the blocks of
the current level are contiguous segments of equal length up to one point. A level splits
every block at once (``jax.vmap`` over the padded blocks) into co-clusters and regroups the
orders; the leaf level solves every block exactly with a batched assignment solver, after
which ``order_x[t]`` is matched to ``order_y[t]``.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from hiref import assignment, costs, lowrank, validation
from hiref.config import Alignment, HiRefConfig
from hiref.schedule import plan_levels


def solve(
    x,
    y,
    *,
    cost="sqeuclidean",
    config: HiRefConfig | None = None,
    seed: int = 0,
    progress: bool | Callable[[dict], None] | None = None,
) -> Alignment:
    """Aligns point clouds ``x`` (n, d) and ``y`` (m, d) by Hierarchical Refinement.

    Args:
      x, y: arrays (NumPy or JAX, float32 or float64) of shape (n, d) and (m, d).
      cost: ``"sqeuclidean"`` (exact low-rank factors), ``"euclidean"`` (sampled factors on
        large blocks, dense on small ones) or an (n, m) cost matrix (small problems).
      config: solver settings; ``None`` means ``HiRefConfig()``.
      seed: seeds every random step; the same inputs and seed give the same result.
      progress: ``True`` prints one line per level to stderr; a callable receives a dict per
        level (``level, blocks, block_size, rank, seconds``).

    Returns:
      An :class:`Alignment`. With ``n == m`` it holds the permutation ``perm``; otherwise a
      coupling with exact uniform marginals, obtained from a bijection between ``x`` repeated
      ``L/n`` times and ``y`` repeated ``L/m`` times, ``L = lcm(n, m)`` (an optimal bijection
      there is an optimal coupling here); ``L / max(n, m)`` must not exceed
      ``config.max_expansion``.
    """
    config = HiRefConfig() if config is None else config
    validation.check_config(config)
    validation.check_cost_name(cost)
    x = validation.as_points(x, "x")
    y = validation.as_points(y, "y")
    validation.check_pair(x, y)
    n, m = len(x), len(y)
    matrix = None if isinstance(cost, str) else validation.as_cost_matrix(cost, n, m)
    cost_name = "precomputed" if matrix is not None else cost

    if n == m:
        rep_x = rep_y = 1
    else:
        total = math.lcm(n, m)
        if total // max(n, m) > config.max_expansion:
            raise ValueError(
                f"|X| = {n} and |Y| = {m} need a common refinement of lcm = {total} points, "
                f"{total // max(n, m)} times the larger set (HiRefConfig.max_expansion = "
                f"{config.max_expansion}). Subsample the larger set to the smaller size (as the "
                "paper does; see hiref.subsample_to_match) or raise max_expansion."
            )
        rep_x, rep_y = total // n, total // m
    report = _progress_printer(progress)
    matched_x, matched_y, schedule, level_seconds = _match(
        np.repeat(x, rep_x, axis=0), np.repeat(y, rep_y, axis=0),
        None if matrix is None else np.repeat(np.repeat(matrix, rep_x, 0), rep_y, 1),
        cost_name, config, seed, report,
    )
    rows, cols = matched_x // rep_x, matched_y // rep_y
    if n == m:
        perm = np.empty(n, np.int64)
        perm[rows] = cols
        rows = np.arange(n)
        cols = perm
        weights = np.full(n, 1.0 / n)
    else:
        perm = None
        pairs, counts = np.unique(rows.astype(np.int64) * m + cols, return_counts=True)
        rows, cols, weights = pairs // m, pairs % m, counts / total

    extra = {} if matrix is None else {"matrix_cost": float(np.dot(weights, matrix[rows, cols]))}
    cost_p1 = costs.coupling_cost(x, y, rows, cols, weights, 1)
    cost_p2 = costs.coupling_cost(x, y, rows, cols, weights, 2)
    return Alignment(
        perm=perm,
        coupling=(rows, cols, weights),
        cost_p1=cost_p1,
        cost_p2=cost_p2,
        schedule=schedule,
        level_seconds=level_seconds,
        seconds=float(sum(level_seconds)),
        config=config,
        cost=cost_name,
        extra=extra,
    )


def subsample_to_match(x, y, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's treatment of ``|X| != |Y|``: a seeded uniform subsample of the larger set.

    Returns ``(x, y, kept)`` where ``kept`` are the indices kept of the larger set (sorted).
    """
    x, y = np.asarray(x), np.asarray(y)
    larger = x if len(x) > len(y) else y
    size = min(len(x), len(y))
    kept = np.sort(np.random.default_rng(seed).choice(len(larger), size, replace=False))
    return (x[kept], y, kept) if len(x) > len(y) else (x, y[kept], kept)


def _match(x, y, matrix, cost, config, seed, report):
    """Bijection between equal-size ``x`` and ``y``: returns matched index arrays ``(i, j)``,
    the schedule and the seconds of each level."""
    n = len(x)
    schedule = _schedule(n, config)
    dtype = jnp.float32 if x.dtype == np.float32 or not jax.config.jax_enable_x64 else x.dtype
    xj, yj = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
    mj = None if matrix is None else jnp.asarray(matrix, dtype)
    key = jax.random.PRNGKey(seed)
    seconds = []

    def timed(label, blocks, size, rank, started):
        seconds.append(time.perf_counter() - started)
        report({"level": label, "blocks": blocks, "block_size": size, "rank": rank,
                "seconds": seconds[-1]})

    order_x, order_y, sizes = _hierarchy(xj, yj, mj, schedule[:-1], cost, config, key, timed)
    start = time.perf_counter()
    order_y = _solve_groups(xj, yj, mj, order_x, order_y, *_segment_arrays(sizes), cost=cost,
                            batch=config.leaf_batch)
    order_y.block_until_ready()
    timed("leaf", len(sizes), int(sizes.max()), int(sizes.max()), start)

    # Matched pairs, as points (x_i, y_pi(i)), are regrouped into groups of at most max_leaf
    # by halving along principal axes from a random start, so each sweep's groups straddle
    # the borders of the blocks before; an exact re-solve inside each group can only lower
    # the cost. Groups no larger than the leaves keep a sweep as cheap as the leaf level.
    halvings = max(0, math.ceil(math.log2(n / config.max_leaf)))
    sweeps = config.refine_sweeps if halvings else 0
    total = float(_matching_cost(xj, yj, mj, order_x, order_y, cost=cost)) if sweeps else 0.0
    for sweep in range(sweeps):
        start = time.perf_counter()
        pairs = jnp.concatenate([xj[order_x], yj[order_y]], axis=1)
        order_p, group_sizes = _bisect(pairs, halvings, jax.random.fold_in(key, 1000 + sweep))
        order_x, order_y = order_x[order_p], order_y[order_p]
        order_y = _solve_groups(xj, yj, mj, order_x, order_y, *_segment_arrays(group_sizes),
                                cost=cost, batch=max(1, config.leaf_batch // 2))
        previous, total = total, float(_matching_cost(xj, yj, mj, order_x, order_y, cost=cost))
        timed(f"refine {sweep + 1}", len(group_sizes), int(group_sizes.max()),
              int(group_sizes.max()), start)
        if previous - total <= config.refine_tol * previous:
            break
    return np.asarray(order_x), np.asarray(order_y), schedule, seconds


def _hierarchy(x, y, matrix, ranks, cost, config, key, timed=None):
    """Runs the low-rank levels: returns ``order_x``, ``order_y`` and the leaf block sizes."""
    n = x.shape[0]
    order_x = jnp.arange(n, dtype=jnp.int32)
    order_y = jnp.arange(n, dtype=jnp.int32)
    sizes = np.array([n])
    for level, r in enumerate(ranks):
        start = time.perf_counter()
        caps = sizes[:, None] // r + (np.arange(r)[None, :] < sizes[:, None] % r)
        order_x, order_y = _split_level(
            x, y, matrix, order_x, order_y, *_segment_arrays(sizes),
            jnp.asarray(caps, jnp.int32), jax.random.fold_in(key, level),
            cost=cost, cost_rank=config.cost_rank, outer_iters=config.outer_iters,
            inner_iters=config.inner_iters, gamma=config.gamma,
            restarts=config.top_restarts if level == 0 else 1,
        )
        if timed is not None:
            order_x.block_until_ready()
            timed(level + 1, len(sizes), int(sizes.max()), r, start)
        sizes = caps.ravel()
    return order_x, order_y, sizes


def _bisect(points, halvings, key):
    """Halves every block ``halvings`` times at the median of its principal axis: returns
    the order of ``points`` in which the ``2**halvings`` groups are contiguous, and their
    sizes (equal up to one)."""
    n = points.shape[0]
    order = jnp.arange(n, dtype=jnp.int32)
    sizes = np.array([n])
    for level in range(halvings):
        order = _halve_level(points, order, *_segment_arrays(sizes),
                             jax.random.fold_in(key, level))
        sizes = np.stack([sizes - sizes // 2, sizes // 2], axis=1).ravel()
    return order, sizes


@jax.jit
def _halve_level(points, order, idx, mask, key):
    def axis_position(block, valid, key):
        block = jnp.where(valid[:, None], block - (block * valid[:, None]).sum(0) / valid.sum(),
                          0.0)
        # Power iteration from a random start: a few steps find the axis of largest spread
        # well enough, and the random start varies the groups from sweep to sweep.
        direction = jax.random.normal(key, (block.shape[1],), block.dtype)
        direction = jax.lax.fori_loop(
            0, 6, lambda _, u: (w := block.T @ (block @ u)) / jnp.linalg.norm(w).clip(1e-30),
            direction)
        return jnp.where(valid, block @ direction, jnp.inf)

    position = jax.vmap(axis_position)(points[order[idx]], mask,
                                       jax.random.split(key, idx.shape[0]))
    # Sorted along the axis, the block's first ceil(s/2) points form the first half.
    return _regroup(order, idx, mask, jnp.argsort(position, axis=1))


def _schedule(n: int, config: HiRefConfig) -> list[int]:
    if config.schedule is None:
        return plan_levels(n, config.max_rank, config.max_leaf, config.depth)
    ranks = [int(r) for r in config.schedule]
    blocks = math.prod(ranks)
    if blocks > n:
        raise ValueError(
            f"HiRefConfig.schedule {ranks} makes {blocks} blocks, more than the {n} points; "
            "use smaller ranks or schedule=None."
        )
    return [*ranks, -(-n // blocks)]


def _segment_arrays(sizes: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """Positions of each block in the order arrays, padded: idx (b, s_max) and mask (b, s_max)."""
    starts = np.cumsum(sizes) - sizes
    offsets = np.arange(sizes.max())
    mask = offsets[None, :] < sizes[:, None]
    idx = np.where(mask, starts[:, None] + offsets[None, :], starts[:, None])
    return jnp.asarray(idx, jnp.int32), jnp.asarray(mask)


def _regroup(order: jax.Array, idx: jax.Array, mask: jax.Array, moved: jax.Array) -> jax.Array:
    """Rewrites each segment of ``order``: its t-th valid slot takes the element at block
    position ``moved[b, t]``."""
    source = jnp.take_along_axis(order[idx], moved, axis=1)
    target = jnp.where(mask, idx, order.shape[0])
    return order.at[target].set(source, mode="drop")


@functools.partial(
    jax.jit, static_argnames=("cost", "cost_rank", "outer_iters", "inner_iters", "gamma",
                                  "restarts")
)
def _split_level(x, y, matrix, order_x, order_y, idx, mask, caps, key, *, cost, cost_rank,
                 outer_iters, inner_iters, gamma, restarts):
    gx, gy = order_x[idx], order_y[idx]
    blocks = idx.shape[0]
    cb = None if matrix is None else matrix[gx[:, :, None], gy[:, None, :]]
    split = functools.partial(
        lowrank.split_block, cost=cost, cost_rank=cost_rank, outer_iters=outer_iters,
        inner_iters=inner_iters, gamma=gamma, restarts=restarts,
    )
    label_x, label_y = jax.vmap(split)(x[gx], y[gy], mask, caps, jax.random.split(key, blocks),
                                       cb)
    # A stable sort by label lays the co-clusters out as consecutive child segments.
    by_label_x = jnp.argsort(label_x, axis=1, stable=True)
    by_label_y = jnp.argsort(label_y, axis=1, stable=True)
    return _regroup(order_x, idx, mask, by_label_x), _regroup(order_y, idx, mask, by_label_y)


@functools.partial(jax.jit, static_argnames=("cost", "batch"))
def _solve_groups(x, y, matrix, order_x, order_y, idx, mask, *, cost, batch):
    """Exact assignment inside every group; returns ``order_y`` rearranged so that
    ``order_x[t]`` is matched to ``order_y[t]``."""
    gx, gy = order_x[idx], order_y[idx]

    def block_cost(args):
        bx, by, valid = args
        if matrix is None:
            c = costs.pairwise(*costs.centre_block(x[bx], y[by], valid), cost)
        else:
            c = matrix[bx[:, None], by[None, :]]
        return assignment.assign(assignment.padded_cost(c, valid))

    cols = jax.lax.map(block_cost, (gx, gy, mask), batch_size=batch)
    return _regroup(order_y, idx, mask, cols)


@functools.partial(jax.jit, static_argnames=("cost",))
def _matching_cost(x, y, matrix, order_x, order_y, *, cost):
    """Total cost of the matching ``order_x[t] -> order_y[t]`` (a scalar)."""
    if matrix is not None:
        return matrix[order_x, order_y].sum()
    return costs.pairwise_rows(x[order_x], y[order_y], cost).sum()


def _progress_printer(progress):
    if callable(progress):
        return progress
    if not progress:
        return lambda info: None

    def show(info):
        print(
            f"hiref level {info['level']}: {info['blocks']} blocks of <= {info['block_size']} "
            f"points, rank {info['rank']}, {info['seconds']:.2f} s",
            file=sys.stderr, flush=True,
        )

    return show
