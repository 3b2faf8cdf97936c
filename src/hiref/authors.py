"""The authors' Hierarchical Refinement, level by level, in JAX: :func:`solve_authors`.

This is the algorithm of Halmos, Gold, Liu and Raphael's code (github.com/raphael-group/HiRef,
``HierarchicalRefinementOT.init_from_point_clouds(...).run()``), as it ran the paper's
experiments, written on this package's FRLC (:mod:`hiref.frlc`). ``hiref.solve`` is our
improved solver; this module reproduces theirs:

- **Schedule.** Their rank schedule (:func:`hiref.plan_levels` with ``max_leaf = max_q - 1``
  and ``depth = hierarchy_depth + 1``: the largest divisor ``Q`` of ``n`` below ``max_q``,
  then the fewest sub-problems above it). Their code needs ``n`` to factor so; here an ``n``
  that does not gets blocks whose sizes differ by at most one point, padded and masked.
- **Every level, the last one included, is an FRLC solve** on each block (all blocks of a level
  at once, ``jax.lax.map`` over the padded blocks, in batches that fit ``block_memory_mb``),
  from FRLC's random "Full" initialisation, with the settings of :class:`AuthorsSettings`.
  Above the last level the block's cost is factorised at the level's rank ``r``: the
  Euclidean cost by :func:`distance_factors` (their ``low_rank_distance_factorization(r,
  eps)``), the squared Euclidean cost by its exact factors, each normalised as theirs
  (:func:`normalised_factors`); FRLC stops there at ``tol_factored`` (``FRLC_LR_opt``). The
  last level solves each ``Q``-point block at rank ``Q`` on its dense, unnormalised cost
  (``torch.cdist``, squared for the squared Euclidean cost) and stops at ``tol_dense``
  (``FRLC_opt``): a rank-``Q`` low-rank problem, not an exact assignment.
- **Split.** Each block is split into co-clusters of equal capacity by their "soft" rule
  (:func:`soft_split`): for co-cluster ``z = 0, 1, ...`` in turn, the ``capacity`` rows not
  yet taken with the largest entry in column ``z``, on the ``x`` side of ``Q diag(1/g_Q) T``
  and on the ``y`` side of ``R`` (FRLC's diagonalised return). It always yields a bijection;
  at the last level the capacity is one point, which splits each block into singletons.

FRLC's first gradient takes the inverse of the random initial latent coupling, as their code
(``initial_latent``). Deviations, each documented in docs/authors-hiref.md: the factored
Euclidean cost is normalised as their code means, not as it computes
(:func:`normalised_factors`); each block is centred before its cost is built (distances do
not change; the normalisation of the squared-Euclidean factors, which sets FRLC's stopping
scale, does); the work runs in float32 (their synthetic sweep held the factored levels in
float64); ``|X| != |Y|`` is refused (their code asserts); ties in the split go to the lower
index.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hiref import costs, frlc, seeds, validation
from hiref.authors_config import AuthorsSettings, schedule
from hiref.config import BLOCK_ENTRIES, COSTS, Alignment
from hiref.frlc_config import FRLCConfig

__all__ = ["AuthorsSettings", "distance_factors", "level_sizes", "normalised_factors",
           "schedule", "soft_split", "solve_authors"]

#: Bytes of one float32 entry; blocks of a level are batched by their estimated bytes.
_ENTRY_BYTES = 4

#: A level of many blocks is solved in about this many calls of its program, each a run of
#: whole batches, with a progress report after each (the last level of a large solve can run
#: for hours on a CPU). The calls solve the same blocks with the same keys in the same
#: batches as one call would, so the result does not depend on it.
PROGRESS_CALLS = 20


def level_sizes(n: int, ranks: list[int]) -> list[np.ndarray]:
    """Block sizes entering each level (one array per rank of ``ranks``, the last rank
    included): a block of ``s`` points splits into ``r`` co-clusters of ``s // r`` or
    ``s // r + 1`` points, the larger ones first."""
    sizes, out = np.array([n]), []
    for r in ranks[:-1]:
        out.append(sizes)
        sizes = _capacities(sizes, r).ravel()
    return [*out, sizes]


def _capacities(sizes: np.ndarray, r: int) -> np.ndarray:
    """Co-cluster capacities (b, r) of blocks of ``sizes`` (b,) split into ``r``."""
    return sizes[:, None] // r + (np.arange(r)[None, :] < sizes[:, None] % r)


def distance_factors(x: jax.Array, y: jax.Array, valid: jax.Array, rank: int, eps: float,
                     key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The authors' sampled factorisation of the Euclidean cost of a block,
    ``|x_i - y_j| ~ (left @ right.T)_ij`` (``low_rank_distance_factorization(X1, X2, r, eps)``
    of their ``src/util.py``: importance-sampled rows (Bakshi and Woodruff / Indyk et al.),
    length-squared sampled columns (Frieze et al.) and a regression for the left factor
    (Chen and Price), each from ``t = int(rank / eps)`` samples drawn with replacement).

    Args:
      x, y: (s, d) the block's points; valid: (s,) bool, the same rows valid on both sides
        (padded rows last); rank: the factorisation's rank; eps: the sampling parameter;
      key: PRNG key of the samples.
    Returns:
      ``left`` (s, rank) and ``right`` (s, rank), zero on padded rows: their ``C1`` and
      ``C2.T``. Memory ``O(s (rank + d) + t^2)``: the sampled distance blocks are applied in
      row tiles (:func:`hiref.frlc.tiled_product`), never held whole.
    """
    t = int(rank / eps)
    count = valid.sum()
    key_i, key_j, key_rows, key_cols, key_fit = jax.random.split(key, 5)
    every_t = jnp.ones(t, bool)
    i_star = jax.random.randint(key_i, (), 0, count)
    j_star = jax.random.randint(key_j, (), 0, count)
    # Row sampling probabilities, unnormalised as theirs (P_t uses them unnormalised too).
    to_j = jnp.linalg.norm(x - y[j_star], axis=1)
    from_i = jnp.where(valid, jnp.linalg.norm(x[i_star] - y, axis=1), 0.0)
    p = (to_j**2 + jnp.sum((x[i_star] - y[j_star]) ** 2) + from_i.sum() / count) ** 2
    p = jnp.where(valid, p, 0.0)
    rows = jax.random.choice(key_rows, x.shape[0], (t,), p=p / p.sum())
    row_weight = jnp.sqrt(p[rows] * t)
    x_t = x[rows]
    # S = cdist(x_t, y) / row_weight (t, s); q_j = |S_:j|^2 / |S|_F^2.
    column_sq = frlc.tiled_product(y, x_t, valid, every_t, (1.0 / row_weight**2)[:, None],
                                   "sqeuclidean")[:, 0]
    q = column_sq / column_sq.sum()
    cols = jax.random.choice(key_cols, y.shape[0], (t,), p=q)
    w = costs.pairwise(x_t, y[cols], "euclidean") / row_weight[:, None]
    w = w / jnp.sqrt(q[cols] * t)[None, :]
    f = jnp.linalg.svd(w)[0][:, :rank]
    s_t_f = frlc.tiled_product(y, x_t, valid, every_t, f / row_weight[:, None], "euclidean")
    right = s_t_f / jnp.linalg.norm(w.T @ f)
    fit = jax.random.randint(key_fit, (t,), 0, count)
    vecs, vals, _ = jnp.linalg.svd(right.T @ right)
    vecs = vecs / vals[None, :]
    b = vecs.T @ right[fit].T / math.sqrt(t)
    ab = jnp.linalg.inv(b @ b.T) @ b
    z_t = frlc.tiled_product(x, y[fit], valid, every_t, ab.T / math.sqrt(t), "euclidean")
    return jnp.where(valid[:, None], z_t @ vecs, 0.0), jnp.where(valid[:, None], right, 0.0)


def normalised_factors(x: jax.Array, y: jax.Array, valid: jax.Array, cost: str, rank: int,
                       eps: float, key: jax.Array) -> frlc.FactoredCost:
    """A block's cost above the last level as the authors' solver saw it (``get_dist_mats``).

    Euclidean: :func:`distance_factors`, their product divided by ``max|C1| max|C2|``: the
    normalisation their code means (``c = C1.max()**(1/2) * C2.max()**(1/2)``, each factor
    divided by ``c``), with absolute values, since a factor's largest entry may be negative.
    Their code's ``C1.max()**1/2``, which Python reads as ``C1.max() / 2``, is not copied: it
    leaves the scale to the signs of singular vectors, and where it makes the cost a million
    times too large FRLC's inner marginals collapse (a co-cluster empties and the objective
    turns NaN; one seed in ten at n = 1024 here). The scale sets only FRLC's stopping
    threshold and its inner-marginal penalty. Squared Euclidean: the exact factors
    ``[|x|^2, 1, -2x]``, ``[1, |y|^2, y]`` each divided by the square root of its largest
    entry (``compute_lr_sqeuclidean_matrix`` with ``rescale_cost=True``). Padded rows are
    zero; ``scale`` is 1 (FRLC's objective is in these units)."""
    if cost == "sqeuclidean":
        left, right = costs.sqeuclidean_factors(x, y)
        left = left / _sqrt_of_positive_max(left, valid)
        right = right / _sqrt_of_positive_max(right, valid)
    else:
        left, right = distance_factors(x, y, valid, rank, eps, key)
        c = jnp.sqrt(_valid_max(jnp.abs(left), valid) * _valid_max(jnp.abs(right), valid))
        c = jnp.where(jnp.isfinite(c) & (c > 0), c, 1.0)
        left, right = left / c, right / c
    zero = ~valid[:, None]
    return frlc.FactoredCost(jnp.where(zero, 0.0, left), jnp.where(zero, 0.0, right),
                             jnp.ones((), x.dtype))


def _valid_max(a: jax.Array, valid: jax.Array) -> jax.Array:
    return jnp.where(valid[:, None], a, -jnp.inf).max()


def _sqrt_of_positive_max(a: jax.Array, valid: jax.Array) -> jax.Array:
    top = _valid_max(a, valid)
    return jnp.where(top > 0, jnp.sqrt(jnp.maximum(top, 0.0)), 1.0)


def soft_split(scores: jax.Array, valid: jax.Array, capacities: jax.Array,
               largest: int) -> jax.Array:
    """The authors' "soft" split of one side of a block: for co-cluster ``z = 0, 1, ...`` in
    turn, the ``capacities[z]`` valid rows not yet taken with the largest ``scores[:, z]``
    (``torch.topk`` on the remaining rows in their code; ties here go to the lower index).

    Args:
      scores: (s, r); valid: (s,) bool; capacities: (r,) int summing to the valid rows;
      largest: static bound on ``capacities``.
    Returns:
      (s,) int32 co-cluster of each row; ``r`` on padded rows.
    """
    s, r = scores.shape

    def take(z, state):
        labels, free = state
        _, best = jax.lax.top_k(jnp.where(free, scores[:, z], -jnp.inf), largest)
        best = jnp.where(jnp.arange(largest) < capacities[z], best, s)
        return labels.at[best].set(z, mode="drop"), free.at[best].set(False, mode="drop")

    labels = jnp.full(s, r, jnp.int32)
    return jax.lax.fori_loop(0, r, take, (labels, valid))[0]


def _children(block: jax.Array, labels: jax.Array, capacities: jax.Array,
              child: int) -> jax.Array:
    """The point indices of each co-cluster (r, child), -1 where a co-cluster is smaller than
    ``child``: ``block`` (s,) indices (-1 padded) grouped by ``labels`` (s,)."""
    order = jnp.argsort(labels, stable=True)
    starts = jnp.cumsum(capacities) - capacities
    slot = jnp.arange(child)[None, :]
    position = jnp.minimum(starts[:, None] + slot, block.shape[0] - 1)
    return jnp.where(slot < capacities[:, None], block[order[position]], -1)


class LevelOutput(NamedTuple):
    """One level's result: the child blocks (b r, child) on each side, -1 padded, and per
    parent block (b,) FRLC's iterations and final objective (its own units, mass one)."""

    blocks_x: jax.Array
    blocks_y: jax.Array
    iterations: jax.Array
    objective: jax.Array


@functools.partial(jax.jit, static_argnames=("last", "cost", "config", "eps", "child",
                                             "batch"))
def _level(x, y, blocks_x, blocks_y, capacities, keys, *, last, cost, config, eps, child, batch):
    """Splits blocks (b, s) of a level, ``capacities`` (b, r), each with its key of ``keys``
    (b,); see :func:`solve_authors`."""

    def one(args):
        block_x, block_y, caps, block_key = args
        valid = block_x >= 0
        xb, yb = costs.centre_block(x[jnp.maximum(block_x, 0)], y[jnp.maximum(block_y, 0)],
                                    valid)
        key_cost, key_init = jax.random.split(block_key)
        if last:
            pair = valid[:, None] & valid[None, :]
            op = frlc.DenseCost(jnp.where(pair, costs.pairwise(xb, yb, cost), 0.0),
                                jnp.ones((), xb.dtype))
        else:
            op = normalised_factors(xb, yb, valid, cost, config.rank, eps, key_cost)
        a = valid / valid.sum().astype(xb.dtype)
        out = frlc.solve_operator(op, a, a, key_init, config)
        left, right, _ = out.diagonal_form()
        largest = 1 if last else child
        label_x = soft_split(left, valid, caps, largest)
        label_y = soft_split(right, valid, caps, largest)
        return (_children(block_x, label_x, caps, child), _children(block_y, label_y, caps, child),
                out.n_iters, out.objective[jnp.maximum(out.n_iters - 1, 0)])

    kids_x, kids_y, iters, objective = jax.lax.map(
        one, (blocks_x, blocks_y, capacities, keys), batch_size=batch)
    return LevelOutput(kids_x.reshape(-1, child), kids_y.reshape(-1, child), iters, objective)


def _frlc_config(settings: AuthorsSettings, rank: int, last: bool) -> FRLCConfig:
    return FRLCConfig(
        rank=rank, gamma=float(settings.gamma), max_iter=settings.max_iter,
        min_iter=settings.min_iter, inner_iters_balanced=settings.inner_iters_balanced,
        inner_iters_relaxed=settings.inner_iters_relaxed, tau_in=float(settings.tau_in),
        tol=float(settings.tol_dense if last else settings.tol_factored),
        initial_latent=settings.initial_latent,
        projection=settings.last_level_projection if last else "log_domain",
    )


def _batch(blocks: int, size: int, rank: int, last: bool, settings: AuthorsSettings) -> int:
    """Blocks of a level solved at once: the largest divisor of ``blocks`` whose estimated
    bytes (FRLC's factors and kernels, the dense cost at the last level, the sampled
    factorisation's t x t core and row tiles above it) fit ``block_memory_mb``; a divisor, so
    that ``jax.lax.map`` compiles no second program for a remainder."""
    entries = 16 * size * rank
    if not last:
        t = int(rank / settings.distance_eps)
        entries += 4 * t * t + min(size * t, BLOCK_ENTRIES)
    fits = max(1, (settings.block_memory_mb << 20) // (_ENTRY_BYTES * entries))
    return max(d for d in range(1, min(blocks, fits) + 1) if blocks % d == 0)


def _call_blocks(blocks: int, batch: int) -> int:
    """Blocks solved per call of a level's program: whole batches and a divisor of
    ``blocks`` (one compiled program serves every call, with no padding), the one whose
    number of calls is nearest ``PROGRESS_CALLS`` by ratio (ties: fewer calls)."""
    runs = blocks // batch
    sizes = [d for d in range(1, runs + 1) if runs % d == 0]
    return batch * min(sizes, key=lambda d: (abs(math.log(runs / d / PROGRESS_CALLS)), -d))


class _Level(NamedTuple):
    """A level's plan: its rank, blocks (count, padded size), capacities (b, r), whether it
    is the last, the size of its children, the blocks per call and its compiled program."""

    rank: int
    sizes: np.ndarray
    capacities: np.ndarray
    last: bool
    child: int
    call_blocks: int
    program: object

    def run(self, x, y, blocks_x, blocks_y, key, number, report):
        """Every block's split, in calls of ``call_blocks`` blocks; after each call but the
        last, ``report`` gets the level's ``number``, the blocks done and the seconds so far."""
        started, count = time.perf_counter(), len(self.sizes)
        keys = jax.random.split(key, count)
        parts = []
        for start in range(0, count, self.call_blocks):
            part = slice(start, start + self.call_blocks)
            parts.append(self.program(x, y, blocks_x[part], blocks_y[part],
                                      self.capacities[part], keys[part]))
            if part.stop < count:
                jax.block_until_ready(parts[-1])
                report({"level_in_progress": number, "blocks_done": part.stop,
                        "blocks": count, "seconds": time.perf_counter() - started})
        return parts[0] if len(parts) == 1 else LevelOutput(
            *(jnp.concatenate(arrays) for arrays in zip(*parts)))


def _plan(n: int, d: int, dtype, cost: str, settings: AuthorsSettings) -> list[_Level]:
    """Every level of a solve, each compiled ahead of time for its shapes."""
    ranks = schedule(n, settings)
    sizes = level_sizes(n, ranks)
    points = jax.ShapeDtypeStruct((n, d), dtype)
    plan = []
    for depth, (r, block_sizes) in enumerate(zip(ranks, sizes)):
        last = depth == len(ranks) - 1
        s = int(block_sizes.max())
        r = s if last else r
        caps = ((np.arange(r)[None, :] < block_sizes[:, None]).astype(np.int64) if last
                else _capacities(block_sizes, r))
        child = int(caps.max())
        batch = _batch(len(block_sizes), s, r, last, settings)
        call = _call_blocks(len(block_sizes), batch)
        blocks = jax.ShapeDtypeStruct((call, s), jnp.int32)
        keys = jax.ShapeDtypeStruct((call,), jax.random.key(0).dtype)
        program = _level.lower(
            points, points, blocks, blocks, jax.ShapeDtypeStruct((call, r), jnp.int32), keys,
            last=last, cost=cost, config=_frlc_config(settings, r, last),
            eps=float(settings.distance_eps), child=child, batch=batch,
        ).compile()
        plan.append(_Level(r, block_sizes, caps.astype(np.int32), last, child, call, program))
    return plan


def solve_authors(
    x,
    y,
    *,
    cost: str = "euclidean",
    settings: AuthorsSettings | None = None,
    seed: int = 0,
    progress: bool | Callable[[dict], None] | None = None,
) -> Alignment:
    """Aligns ``x`` (n, d) and ``y`` (n, d) by the authors' Hierarchical Refinement.

    Args:
      x, y: arrays of shape (n, d) (NumPy or JAX); the same n on both sides. They are
        shifted by their joint mean in float64, then solved in float32 (float64 when JAX's
        64-bit mode is on and the input is float64); reported costs are exact, in float64.
      cost: ``"euclidean"`` (the authors' default, p = 1) or ``"sqeuclidean"`` (p = 2).
      settings: :class:`AuthorsSettings`; ``None``: the authors' defaults.
      seed: integer in ``[0, 2**64)``; seeds FRLC's random initialisations and the sampled
        cost factorisations through the key :func:`hiref.seeds.jax_key` makes of it
        (the same inputs and seed give the same result).
      progress: ``True`` prints one line per level to stderr; a callable receives a dict per
        level (``level, blocks, block_size, rank, seconds, iterations_mean, iterations_max,
        objective_mean``). A level of many blocks also reports, about every
        ``1 / PROGRESS_CALLS`` of its blocks, a dict ``level_in_progress, blocks_done,
        blocks, seconds`` (the seconds of the level so far).

    Returns:
      An :class:`hiref.Alignment` whose ``perm`` (n,) is the bijection, ``config`` the
      settings and ``extra``: ``levels`` (the progress dicts), ``last_level_plan_cost`` (the
      unrounded ``<C, P>`` of the last level's rank-``Q`` plans, the cost's units, before
      their split into singletons), ``dtype``.

    Raises:
      ValueError: for invalid input, naming the fix; for ``|X| != |Y|``.
    """
    settings = AuthorsSettings() if settings is None else settings
    if not isinstance(settings, AuthorsSettings):
        raise ValueError(  # noqa: TRY004 (hostile input is a ValueError throughout)
            f"settings must be an AuthorsSettings, got {type(settings).__name__}.")
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}.")
    base = seeds.jax_key(seed)
    report = _printer(validation.check_progress(progress))
    x, y = validation.as_points(x, "x"), validation.as_points(y, "y")
    validation.check_pair(x, y)
    n = len(x)
    if len(y) != n:
        raise ValueError(
            f"|X| = {n} and |Y| = {len(y)}: the authors' algorithm pairs sets of equal size. "
            "Subsample the larger set (hiref.subsample_to_match, as the paper does) or use "
            "hiref.solve, which couples sets of different sizes.")
    wide = x.dtype == np.float64 and y.dtype == np.float64 and jax.config.jax_enable_x64
    dtype = np.dtype(np.float64 if wide else np.float32)

    start = time.perf_counter()
    plan = _plan(n, x.shape[1], dtype, cost, settings) if n > 1 else []
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    centre = 0.5 * (x.mean(0, dtype=np.float64) + y.mean(0, dtype=np.float64))
    xj = jax.device_put((x - centre).astype(dtype))
    yj = jax.device_put((y - centre).astype(dtype))
    blocks_x = blocks_y = jax.device_put(np.arange(n, dtype=np.int32)[None, :])
    levels, seconds, last_cost = [], [], None
    for depth, level in enumerate(plan):
        started = time.perf_counter()
        out = level.run(xj, yj, blocks_x, blocks_y, jax.random.fold_in(base, depth), depth + 1,
                        report)
        blocks_x, blocks_y = out.blocks_x, out.blocks_y
        iters = np.asarray(out.iterations)
        weights = level.sizes / n
        objective = float(np.dot(weights, np.asarray(out.objective, np.float64)))
        seconds.append(time.perf_counter() - started)
        info = {"level": depth + 1, "blocks": len(level.sizes),
                "block_size": int(level.sizes.max()), "rank": level.rank,
                "seconds": seconds[-1], "iterations_mean": float(iters.mean()),
                "iterations_max": int(iters.max()), "objective_mean": objective}
        if level.last:
            last_cost = objective
        levels.append(info)
        report(info)
    perm = _bijection(np.asarray(blocks_x), np.asarray(blocks_y), n)
    elapsed = time.perf_counter() - start

    rows, weights = np.arange(n), np.full(n, 1.0 / n)
    return Alignment(
        perm=perm, coupling=(rows, perm, weights),
        cost_p1=costs.coupling_cost(x, y, rows, perm, weights, 1),
        cost_p2=costs.coupling_cost(x, y, rows, perm, weights, 2),
        schedule=schedule(n, settings), level_seconds=seconds, seconds=elapsed,
        config=settings, cost=cost, compile_seconds=compile_seconds,
        extra={"algorithm": "authors", "levels": levels, "last_level_plan_cost": last_cost,
               "dtype": dtype.name},
    )


def _bijection(blocks_x: np.ndarray, blocks_y: np.ndarray, n: int) -> np.ndarray:
    """``perm`` (n,) from the last level's singleton blocks (b, 1) on each side; checks that
    every point is matched exactly once."""
    if n == 1:
        return np.zeros(1, np.int64)
    rows, cols = blocks_x[:, 0], blocks_y[:, 0]
    if not np.array_equal(rows >= 0, cols >= 0):
        raise RuntimeError("hiref.solve_authors internal error: the sides' singletons differ.")
    rows, cols = rows[rows >= 0], cols[cols >= 0]
    for side in (rows, cols):
        if len(side) != n or not np.all(np.bincount(side, minlength=n) == 1):
            raise RuntimeError("hiref.solve_authors internal error: the matching is not a "
                               "bijection. Please report it with the input.")
    perm = np.empty(n, np.int64)
    perm[rows] = cols
    return perm


def describe_progress(info: dict) -> str:
    """One line for a progress dict of :func:`solve_authors`: a whole level or a level's
    blocks done so far."""
    if "level_in_progress" in info:
        return (f"hiref (authors) level {info['level_in_progress']}: {info['blocks_done']} of "
                f"{info['blocks']} blocks in {info['seconds']:.1f} s")
    return (f"hiref (authors) level {info['level']}: {info['blocks']} blocks of <= "
            f"{info['block_size']} points, rank {info['rank']}, {info['seconds']:.2f} s, "
            f"FRLC iterations {info['iterations_mean']:.1f} (max {info['iterations_max']}), "
            f"objective {info['objective_mean']:.6g}")


def _printer(progress):
    if callable(progress):
        return progress
    if not progress:
        return lambda info: None
    return lambda info: print(describe_progress(info), file=sys.stderr, flush=True)
