"""Low-rank OT baselines: ott-jax LRSinkhorn (LOT) and FRLC (:mod:`hiref.frlc`), and their
specifications (``LOT``, ``FRLC``)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from hiref.frlc_config import FRLCConfig, resolve_cost_form
from hiref.methods import outputs
from hiref.methods.common import MethodResult, compile_and_time, ott_cost, ott_progress
from hiref.methods.scoring import lowrank_plan_argmax, lowrank_plan_costs, mean_cost
from hiref.methods.spec import MethodSpec
from hiref.settings import setting

_FRLC_FIELDS = {f.name for f in dataclasses.fields(FRLCConfig)}


#: ott-jax's rules for ``PointCloud(scale_cost=...)`` (ott 0.6).
SCALE_COST_RULES = ("mean", "max_cost", "median", "max_norm", "max_bound")


@dataclasses.dataclass(frozen=True)
class LOTSettings:
    """Settings of ott-jax LRSinkhorn."""

    rank: int = setting(40, "Rank of the coupling (paper 40).", minimum=1)
    gamma: float = setting(10.0, "Mirror-descent step parameter of LRSinkhorn.",
                           exclusiveMinimum=0)
    max_iterations: int = setting(2000, "Outer iteration cap.", minimum=1)
    scale_cost: str | float = setting(
        "mean", "ott scale_cost of the geometry: a positive number divides the cost, or one "
        "of ott's point-cloud rules (mean: costs of order one).",
        oneOf=[{"type": "string", "enum": list(SCALE_COST_RULES)},
               {"type": "number", "exclusiveMinimum": 0}])


def run_lot(x, y, params, seed) -> MethodResult:
    """Low-rank OT (Scetbon et al.), ott-jax ``LRSinkhorn``."""
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn_lr

    from hiref import seeds

    solver = sinkhorn_lr.LRSinkhorn(
        rank=params["rank"], gamma=params["gamma"], max_iterations=params["max_iterations"],
        progress_fn=ott_progress("lot"),
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

    (q, r, g, converged), seconds, compile_seconds = compile_and_time(
        solve, x, y, seeds.jax_key(seed))
    scores = lowrank_plan_costs(x, y, q, r, g)
    return MethodResult(
        cost_p1=scores.p1, cost_p2=scores.p2, seconds=seconds,
        compile_seconds=compile_seconds,
        extra={"converged": bool(converged), **scores.extra()},
    )


def run_frlc(x, y, params, seed) -> MethodResult:
    """FRLC (Halmos, Liu, Gold and Raphael 2024), :mod:`hiref.frlc`, scored as its factored
    rank-``rank`` plan rounded onto the marginals (``cost_p1``, ``cost_p2``, like every plan
    here); the argmax map (each ``x_i`` to the ``y`` of the largest entry of its row of the
    plan) is saved as the run's ``map``.

    ``extra`` records the cost form that ran (``cost_form``, see
    :func:`hiref.frlc_config.resolve_cost_form`) and the plan in the authors' two reporting
    forms: ``solver_objective``, the solver's own objective on that cost form for the
    unrounded plan, rescaled, under the minimised cost (their ``W_cost``, MOSTA), and
    ``unrounded_cost_p1`` / ``unrounded_cost_p2``, the exact ``<C, P>`` of the unrounded plan
    from the coordinates, like every plan here (their MERFISH value).
    """
    from hiref import frlc, seeds

    config = frlc.FRLCConfig(**{k: v for k, v in params.items() if k in _FRLC_FIELDS})
    x, y = frlc.check_inputs(x, y, params["cost"], config, seed)
    solve = functools.partial(frlc.solve_points, cost=params["cost"], config=config)

    def solve_factors(x, y, key):
        out = solve(x, y, key)
        return (*out.diagonal_form(), out.n_iters, out.delta, out.objective, out.cost_scale)

    (left, right, g, n_iters, delta, objective, scale), seconds, compile_seconds = (
        compile_and_time(solve_factors, x, y, seeds.jax_key(seed)))
    scores = lowrank_plan_costs(x, y, left, right, g)
    argmax = lowrank_plan_argmax(left, right, g)
    n_iters = int(n_iters)
    return MethodResult(
        cost_p1=scores.p1, cost_p2=scores.p2, seconds=seconds, compile_seconds=compile_seconds,
        arrays={"map": argmax},
        extra={"n_iters": n_iters,
               "converged": bool(n_iters < config.max_iter or delta <= config.tol),
               "cost_form": frlc.resolve_cost_form(len(x), len(y), params["cost"],
                                                   config.cost_form),
               "cost_scale": float(scale),
               "solver_objective": float(np.asarray(objective)[n_iters - 1]),
               **scores.extra(), "map_distinct_targets": int(np.unique(argmax).size)},
    )


LOT = MethodSpec(
    "lot", LOTSettings(), run_lot, outputs.LOW_RANK_PLAN,
    description="Low-rank OT (Scetbon et al.), ott-jax LRSinkhorn.",
    estimator="ott LRSinkhorn, <C, P> of the factored low-rank plan rounded onto the "
              "marginals (unrounded: extra.unrounded_cost_p1 / _p2)",
    legend="LOT rank 40 (ott-jax LRSinkhorn)", uses_jax=True,
    # On the Euclidean cost ott holds the float32 n x n cost matrix: 11.3 GB at n = 51363
    # (MOSTA stand-in, 4.3 bytes per entry). The squared Euclidean cost is factored and
    # needs far less; the request is sized for the dense case.
    memory_growth=2, dense_entry_bytes=5, work_growth=2, scored_rank="rank",
    limit="on the Euclidean cost ott holds the n x n cost matrix and evaluates it at every "
          "iteration: memory and time grow as n^2",
)
def frlc_growth(params: dict, n: int) -> tuple[int, int]:
    """FRLC's (memory, work) growth: memory O(n (r + d)) in every cost form (the dense tiled
    form never holds n x n; the dense matrix only up to 2^24 entries); work n^2 on the dense
    forms (each iteration's cost products visit all n^2 pairs: about 2 h on two CPU cores at
    MERFISH's n = 84172, rank 500, docs/frlc.md), about n on factors (the exact scoring of
    the plan over all pairs is counted apart: ``scored_rank``)."""
    form = resolve_cost_form(n, n, params["cost"], params["cost_form"])
    return 1, 2 if form.startswith("dense") else 1


FRLC = MethodSpec(
    "frlc", FRLCConfig(), run_frlc, outputs.MAP,
    description="FRLC (Halmos, Liu, Gold, Raphael, NeurIPS 2024), hiref.frlc (our JAX code "
                "after the authors' reference); defaults are the authors' MOSTA settings (rank "
                "40, gamma 30, 60/25 iterations, inner 100/40, tau_in 1e5, Euclidean factors "
                "r = 40, eps = 0.04, used with cost_form factors) on the exact dense cost "
                "(cost_form auto); docs/frlc.md.",
    estimator="FRLC (Halmos et al. 2024, our JAX) on the cost form in extra.cost_form, <C, P> "
              "of the factored low-rank plan rounded onto the marginals (the authors' forms: "
              "extra.solver_objective, extra.unrounded_cost_p1 / _p2); argmax map saved",
    legend="FRLC", uses_jax=True, growth=frlc_growth, scored_rank="rank",
    limit="the rounded plan is scored exactly, a sum over all n^2 pairs of d-dimensional "
          "distances: hours on a CPU in high dimension",
)
