"""Low-rank OT baselines: ott-jax LRSinkhorn (LOT) and a rank-r co-clustering (frlc)."""

from __future__ import annotations

import functools

import numpy as np

from hiref.methods.common import MethodResult, compile_and_time, ott_cost
from hiref.methods.scoring import lowrank_plan_costs, mean_cost


def run_lot(x, y, params, seed) -> MethodResult:
    """Low-rank OT (Scetbon et al.), ott-jax ``LRSinkhorn``."""
    import jax
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn_lr

    solver = sinkhorn_lr.LRSinkhorn(
        rank=params["rank"], gamma=params["gamma"], max_iterations=params["max_iterations"]
    )
    cost_fn = ott_cost(params["cost"])

    # Costs of order one keep the mirror-descent step meaningful (scale_cost="mean"). ott
    # would build the n x n cost matrix to take that mean (its online mode fails under
    # JAX 0.10 for the Euclidean cost), making LOT's memory grow as n^2: we pass the mean.
    scale = params["scale_cost"]
    if scale == "mean":
        scale = mean_cost(x, y, params["cost"])

    def solve(x, y, key):
        geom = pointcloud.PointCloud(x, y, cost_fn=cost_fn, scale_cost=scale)
        out = solver(linear_problem.LinearProblem(geom), rng=key)
        return out.q, out.r, out.g, out.converged

    (q, r, g, converged), seconds, compile_seconds = compile_and_time(solve, x, y, jax.random.key(seed))
    p1, p2, mass = lowrank_plan_costs(x, y, q, r, g)
    return MethodResult(
        cost_p1=p1, cost_p2=p2, seconds=seconds,
        extra={"converged": bool(converged), "rounded_mass": mass,
               "compile_seconds": compile_seconds},
    )


def run_frlc(x, y, params, seed) -> MethodResult:
    """A rank-``rank`` co-clustering by this package's FRLC-style low-rank solver.

    Neither POT 0.9.7 nor ott-jax 0.6.0 ships FRLC, so this is the low-rank step HiRef uses
    at each level (``hiref.lowrank.split_block``), applied once to the whole problem. Its
    co-clusters ``(X_k, Y_k)`` define the rank-``rank`` coupling that spreads each ``x`` in
    ``X_k`` uniformly over ``Y_k``: ``Q = onehot(label_x)/n``, ``R = onehot(label_y)/n``,
    ``g = |X_k|/n``.
    """
    import jax
    import jax.numpy as jnp

    from hiref import lowrank

    n, rank = len(x), params["rank"]
    caps = jnp.asarray(np.diff(np.linspace(0, n, rank + 1).round()).astype(np.int32))
    split = functools.partial(
        lowrank.split_block, cost=params["cost"], cost_rank=params["cost_rank"],
        outer_iters=params["outer_iters"], inner_iters=params["inner_iters"],
        gamma=params["gamma"],
    )
    mask = jnp.ones(n, bool)
    (label_x, label_y), seconds, compile_seconds = compile_and_time(
        split, x, y, mask, caps, jax.random.key(seed)
    )
    q = jax.nn.one_hot(label_x, rank) / n
    r = jax.nn.one_hot(label_y, rank) / n
    p1, p2, mass = lowrank_plan_costs(x, y, q, r, caps / n)
    return MethodResult(
        cost_p1=p1, cost_p2=p2, seconds=seconds,
        extra={"rounded_mass": mass, "compile_seconds": compile_seconds},
    )
