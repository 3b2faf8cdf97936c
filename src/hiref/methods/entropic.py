"""Entropic OT baselines from ott-jax: Sinkhorn and ProgOT."""

from __future__ import annotations

import numpy as np

from hiref.methods.common import MethodResult, compile_and_time, ott_cost
from hiref.methods.scoring import entropic_plan_costs


def run_sinkhorn(x, y, params, seed) -> MethodResult:
    """Entropic OT, ott-jax ``Sinkhorn`` on a dense ``PointCloud``, absolute ``epsilon``."""
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    solver = sinkhorn.Sinkhorn(
        threshold=params["threshold"], max_iterations=params["max_iterations"]
    )
    cost_fn = ott_cost(params["cost"])

    def solve(x, y):
        geom = pointcloud.PointCloud(x, y, cost_fn=cost_fn, epsilon=params["epsilon"])
        out = solver(linear_problem.LinearProblem(geom))
        return out.f, out.g, out.converged, out.n_iters

    (f, g, converged, n_iters), seconds, compile_seconds = compile_and_time(solve, x, y)
    p1, p2, mass = entropic_plan_costs(x, y, x, f, g, params["epsilon"], params["cost"])
    return MethodResult(
        cost_p1=p1, cost_p2=p2, seconds=seconds,
        extra={"converged": bool(converged), "n_iters": int(n_iters), "rounded_mass": mass,
               "compile_seconds": compile_seconds},
    )


def run_progot(x, y, params, seed) -> MethodResult:
    """Progressive entropic OT, ott-jax ``ProgOT``; scored by its last step's plan.

    The last step couples ProgOT's final interpolation of ``x`` (row ``i`` still stands
    for ``x[i]``) with ``y``, so that plan is a coupling of ``x`` and ``y``.
    """
    import jax.numpy as jnp
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.tools import progot

    steps = params["num_steps"]
    alphas = progot.get_alpha_schedule(params["alpha_schedule"], num_steps=steps)
    epsilons = None if params["epsilon"] is None else jnp.full(steps, params["epsilon"])
    # ProgOT checks its schedule with checkify in __init__: build it outside jit.
    solver = progot.ProgOT(alphas=alphas, epsilons=epsilons)
    cost_fn = ott_cost(params["cost"])

    def solve(x, y):
        out = solver(linear_problem.LinearProblem(pointcloud.PointCloud(x, y, cost_fn=cost_fn)))
        last = out.get_output(steps - 1)
        return last.geom.x, last.f, last.g, out.epsilons, out.outputs.converged

    (x_last, f, g, eps, converged), seconds, compile_seconds = compile_and_time(solve, x, y)
    p1, p2, mass = entropic_plan_costs(x, y, x_last, f, g, eps[-1], params["cost"])
    return MethodResult(
        cost_p1=p1, cost_p2=p2, seconds=seconds,
        extra={"epsilons": np.asarray(eps).tolist(), "converged": np.asarray(converged).tolist(),
               "rounded_mass": mass, "compile_seconds": compile_seconds},
    )
