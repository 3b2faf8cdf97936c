"""Entropic OT baselines from ott-jax: Sinkhorn, ProgOT and the authors' entropic mini-batch OT,
and their specifications (``SINKHORN``, ``PROGOT``, ``MINIBATCH``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiref.methods import outputs
from hiref.methods.common import (
    BatchSettings,
    MethodResult,
    compile_ahead,
    compile_and_time,
    ott_cost,
    ott_progress,
    progress_due,
    timed_call,
)
from hiref.methods.scoring import batch_plan_costs, batches_per_chunk, entropic_plan_costs
from hiref.methods.spec import MethodSpec, batch_work
from hiref.provenance import log
from hiref.settings import setting


@dataclass(frozen=True)
class SinkhornSettings:
    """Settings of ott-jax Sinkhorn."""

    epsilon: float | None = setting(
        None, "Entropic regularisation; null: ott's default relative epsilon, 0.05 x the "
        "standard deviation of the cost (the authors' setting); a number: that absolute value. "
        "The record keeps the absolute value used (extra.epsilon).", exclusiveMinimum=0)
    threshold: float = setting(1e-3, "Marginal error at which Sinkhorn stops.",
                               exclusiveMinimum=0)
    max_iterations: int = setting(2000, "Sinkhorn iteration cap.", minimum=1)


@dataclass(frozen=True)
class ProgOTSettings:
    """Settings of ott-jax ProgOT."""

    num_steps: int = setting(2, "Number of progressive steps K (authors: 2 synthetic, 4 MOSTA).",
                             minimum=1)
    alpha_schedule: str = setting("exp", "Step-size schedule of ott's get_alpha_schedule.",
                                  enum=["lin", "exp", "quad"])
    epsilon: float | None = setting(None, "Absolute epsilon at every step; null: ott's default "
                                    "(relative to the cost) per step.", exclusiveMinimum=0)


def run_sinkhorn(x, y, params, seed) -> MethodResult:
    """Entropic OT, ott-jax ``Sinkhorn`` on a dense ``PointCloud``. ``epsilon`` None is ott's
    default, relative to the cost (0.05 x its standard deviation, the authors' setting); the
    absolute value used is recorded as ``extra.epsilon``."""
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    solver = sinkhorn.Sinkhorn(
        threshold=params["threshold"], max_iterations=params["max_iterations"],
        progress_fn=ott_progress("sinkhorn"),
    )
    cost_fn = ott_cost(params["cost"])

    def solve(x, y):
        geom = pointcloud.PointCloud(x, y, cost_fn=cost_fn, epsilon=params["epsilon"])
        out = solver(linear_problem.LinearProblem(geom))
        return out.f, out.g, geom.epsilon, out.converged, out.n_iters

    (f, g, eps, converged, n_iters), seconds, compile_seconds = compile_and_time(solve, x, y)
    scores = entropic_plan_costs(x, y, x, f, g, eps, params["cost"])
    return MethodResult(
        cost_p1=scores.p1, cost_p2=scores.p2, seconds=seconds, compile_seconds=compile_seconds,
        extra={"epsilon": float(eps), "converged": bool(converged), "n_iters": int(n_iters),
               **scores.extra()},
    )


def run_progot(x, y, params, seed) -> MethodResult:
    """Progressive entropic OT, ott-jax ``ProgOT``, always solved on the squared Euclidean
    cost (as the authors, whatever the experiment's cost); its last step's plan is scored
    under both costs.

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
    cost_fn = ott_cost("sqeuclidean")

    def solve(x, y):
        out = solver(linear_problem.LinearProblem(pointcloud.PointCloud(x, y, cost_fn=cost_fn)),
                     progress_fn=ott_progress("progot"))  # each step's Sinkhorn
        last = out.get_output(steps - 1)
        return last.geom.x, last.f, last.g, out.epsilons, out.outputs.converged

    (x_last, f, g, eps, converged), seconds, compile_seconds = compile_and_time(solve, x, y)
    scores = entropic_plan_costs(x, y, x_last, f, g, eps[-1], "sqeuclidean")
    return MethodResult(
        cost_p1=scores.p1, cost_p2=scores.p2, seconds=seconds, compile_seconds=compile_seconds,
        extra={"solved_cost": "sqeuclidean", "epsilons": np.asarray(eps).tolist(),
               "converged": np.asarray(converged).tolist(), **scores.extra()},
    )


def run_minibatch(x, y, params, seed) -> MethodResult:
    """The authors' mini-batch OT: one seeded permutation ``perm``; batch ``k`` pairs
    ``x[perm[kB:(k+1)B]]`` with ``y[perm[kB:(k+1)B]]`` (the last batch may be smaller); each
    batch is solved by ott-jax ``Sinkhorn`` (defaults: epsilon 0.05 x std of the batch's cost,
    threshold 1e-3, 2000 iterations) on the experiment's cost. The cost is the mean over
    batches, each with equal weight, of ``<C_b, P_b>`` for the batch's plan rounded onto its
    uniform marginals.

    The batches run in chunks of :func:`~hiref.methods.scoring.batches_per_chunk` (their
    memory bounded), each chunk one call of a solver compiled for its shape (``jax.vmap``
    over its batches: they are solved together; at most three shapes: full chunks, the last
    chunk of full batches, the last smaller batch), compiled before its first timed call;
    the log says how far the solve is every ``common.PROGRESS_SECONDS``.
    """
    import jax
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    n, size = len(x), min(params["batch_size"], len(x))
    perm = np.random.default_rng(seed).permutation(n)
    solver = sinkhorn.Sinkhorn()
    cost_fn = ott_cost(params["cost"])

    def solve_all(x, y, batches):
        # Batches are gathered on the device: the data is never copied in batch order.
        def solve_one(idx):
            geom = pointcloud.PointCloud(x[idx], y[idx], cost_fn=cost_fn)
            out = solver(linear_problem.LinearProblem(geom))
            return out.f, out.g, geom.epsilon, out.converged

        return jax.vmap(solve_one)(batches)  # a chunk's batches solved together

    full = n // size
    per_call = batches_per_chunk(max(full, 1), size, x.shape[1])
    chunks = [perm[start * size:min(start + per_call, full) * size].reshape(-1, size)
              for start in range(0, full, per_call)]
    if n % size:
        chunks.append(perm[full * size:][None, :])
    f, g, eps, converged, p1, p2, moved, raw1, raw2 = ([] for _ in range(9))
    seconds = compile_seconds = 0.0
    programs, done, total, due = {}, 0, -(-n // size), progress_due()
    x, y = jax.device_put(x), jax.device_put(y)
    for idx in chunks:
        if idx.shape not in programs:
            programs[idx.shape], compile_s = compile_ahead(solve_all, x, y, idx)
            compile_seconds += compile_s
        (fb, gb, eb, cb), run_s = timed_call(programs[idx.shape], x, y, idx)
        seconds += run_s
        scores = batch_plan_costs(x, y, idx, fb, gb, eb, params["cost"])
        for parts, value in zip((f, g, eps, converged, p1, p2, moved, raw1, raw2),
                                (fb, gb, eb, cb, *scores), strict=True):
            parts.append(np.asarray(value).reshape(-1))
        done += len(idx)
        if done < total and due():
            log(f"minibatch: {done} of {total} batches in {seconds:.0f} s of solver time, "
                f"about {seconds * (total - done) / done:.0f} s to go")
    f, g, eps, converged, p1, p2, moved, raw1, raw2 = map(
        np.concatenate, (f, g, eps, converged, p1, p2, moved, raw1, raw2))
    return MethodResult(
        cost_p1=float(p1.mean()), cost_p2=float(p2.mean()), seconds=seconds,
        compile_seconds=compile_seconds,
        arrays={"batch_perm": perm.astype(np.int64), "batch_size": np.int64(size),
                "f": f.astype(np.float32), "g": g.astype(np.float32),
                "batch_epsilon": eps.astype(np.float64)},
        extra={"n_batches": len(eps), "converged_batches": int(converged.sum()),
               "epsilon_mean": float(eps.mean()), "rounded_mass_mean": float(moved.mean()),
               "unrounded_cost_p1": float(raw1.mean()),
               "unrounded_cost_p2": float(raw2.mean())},
    )


SINKHORN = MethodSpec(
    "sinkhorn", SinkhornSettings(), run_sinkhorn, outputs.ENTROPIC_PLAN,
    description="Entropic OT, ott-jax Sinkhorn on a dense PointCloud.",
    estimator="ott Sinkhorn (epsilon null: 0.05 x std of the cost), <C, P> of the entropic "
              "plan rounded onto the marginals (unrounded, the authors' number: "
              "extra.unrounded_cost_p1 / _p2)",
    legend="Sinkhorn (ott-jax)", uses_jax=True, memory_growth=2, work_growth=2, max_n=16384,
    limit="dense n x n cost and plan: memory grows as n^2",
)
PROGOT = MethodSpec(
    "progot", ProgOTSettings(), run_progot, outputs.ENTROPIC_PLAN,
    description="Progressive entropic OT, ott-jax ProgOT, always solved on the squared "
                "Euclidean cost (as the authors) and scored under the experiment's cost (W1 "
                "and W2 both recorded).",
    estimator="ott ProgOT solved on squared Euclidean, <C, P> of its last step's plan "
              "(rounded onto the marginals) under the scored cost (unrounded, the authors' "
              "number: extra.unrounded_cost_p1 / _p2)",
    legend="ProgOT (ott-jax)", uses_jax=True, memory_growth=2, work_growth=2, max_n=4096,
    # Measured on the MOSTA stand-in at n = 18408 (30-D, four steps): 10.6-11.1 GiB, about
    # 33 bytes per entry (36 asks for 15.3 GiB there), and unfinished after 116 minutes, over
    # five times dense Sinkhorn's 20 (at n = 5913: 4.5 times). Two Sinkhorn solves a step ask
    # for 207 minutes there.
    dense_entry_bytes=36, repeats="num_steps", work_weight=2.0,
    limit="dense n x n Sinkhorn at every step: memory grows as n^2",
)
MINIBATCH = MethodSpec(
    "minibatch", BatchSettings(), run_minibatch, outputs.MINIBATCH_PLAN,
    description="The authors' entropic mini-batch OT: one seeded permutation pairs x and y "
                "batches of batch_size (the last may be smaller), ott Sinkhorn per batch with "
                "its default relative epsilon; the cost is the mean over batches of "
                "<C_b, P_b>.",
    estimator="entropic mini-batch (authors'): one shared permutation, ott Sinkhorn per "
              "batch, relative epsilon, mean of <C_b, P_b> (plans rounded; unrounded, the "
              "authors' number: extra.unrounded_cost_p1 / _p2)",
    legend="mini-batch OT, entropic (authors')", uses_jax=True, sweep="batch_size",
    point_work=batch_work,
)
