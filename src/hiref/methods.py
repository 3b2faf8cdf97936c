"""The workflow's OT methods: one function per method, ``run(x, y, params, seed)``, and the
registry that the workflow's ``method`` wildcard is checked against.

Every method returns a :class:`MethodResult` holding the primal cost of its transport plan
under p = 1 (Euclidean, "W1") and p = 2 (squared Euclidean, "W2"), whatever cost it
minimised (``params["cost"]``):

- matchings (hiref, exact, minibatch, bspot) are scored pair by pair with
  :func:`hiref.costs.coupling_cost`;
- entropic plans (sinkhorn, progot) and low-rank plans (lot, frlc) are scored as the primal
  cost ``<F, C>`` of the plan itself (not a matching rounded from it), where ``F`` is the
  plan projected onto the exact marginals by Altschuler et al.'s rounding (solvers stop at
  a marginal tolerance, and an infeasible plan could undercut the optimum); ``P`` is
  rebuilt a block of rows at a time from the solver's potentials or factors, so memory
  stays linear in ``n`` beyond the solver's own. The mass moved by the rounding is
  recorded as ``rounded_mass``.

Baselines call their libraries (ott-jax, POT, SciPy); nothing here re-implements them.
Solver seconds exclude JIT compilation (compiled ahead of time, reported separately as
``compile_seconds``) and are taken after ``block_until_ready``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hiref.config import COSTS, HiRefConfig

#: Largest number of plan entries built at once when scoring a dense or low-rank plan.
PLAN_BLOCK = 1 << 24


@dataclass
class MethodResult:
    """Outcome of one run.

    Attributes:
      status: ``"ok"`` or ``"skipped"`` (the method cannot run at this size; the paper's "—").
      reason: why a run was skipped.
      cost_p1, cost_p2: primal cost of the plan under |x - y| and |x - y|^2.
      seconds: solver time only (no data loading, compilation or scoring).
      params: every setting the method ran with, defaults included.
      perm: ``perm[i]`` matched to ``x[i]`` for methods that return a bijection, else None.
      extra: method diagnostics (convergence, epsilon, schedule, compile time, ...).
    """

    status: str = "ok"
    reason: str | None = None
    cost_p1: float | None = None
    cost_p2: float | None = None
    seconds: float | None = None
    params: dict = field(default_factory=dict)
    perm: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A registry entry.

    Attributes:
      run: ``run(x, y, params, seed) -> MethodResult`` (``params`` complete, see ``defaults``).
      defaults: every setting with its default; ``config/schema.yaml`` repeats them.
      uses_jax: whether it runs on JAX's device (else on the host CPU).
      sweep: a setting that the configuration may give as a list; each value becomes a
        variant of the method named ``{method}-{value}`` (e.g. ``minibatch-128``).
      limit: what grows too fast beyond ``max_n``, for the skip reason.
      costs: the costs it can minimise; other costs give a ``skipped`` run.
    """

    run: Callable[[np.ndarray, np.ndarray, dict, int], MethodResult]
    defaults: dict
    uses_jax: bool
    sweep: str | None = None
    limit: str | None = None
    costs: tuple[str, ...] = COSTS


# ----------------------------------------------------------------------------- scoring


def matching_costs(x: np.ndarray, y: np.ndarray, perm: np.ndarray) -> tuple[float, float]:
    """(p = 1, p = 2) costs of the bijection ``x[i] -> y[perm[i]]``, uniform masses."""
    from hiref.costs import coupling_cost

    n = len(x)
    rows, weights = np.arange(n), np.full(n, 1.0 / n)
    return tuple(coupling_cost(x, y, rows, perm, weights, p) for p in (1, 2))


def plan_costs(x, y, plan_rows: Callable, row_args: tuple) -> tuple[float, float, float]:
    """Primal costs under p = 1 and p = 2 of a plan given implicitly by rows, made feasible.

    ``plan_rows(*row_args_block) -> (b, m)`` builds the rows of ``P`` for one block of ``b``
    rows; ``row_args`` are per-row arrays (first axis ``n``) it receives sliced. Solvers stop
    at a marginal tolerance, and an infeasible plan can undercut the optimal cost, so ``P``
    is first rounded onto the transport polytope (Altschuler, Weed and Rigollet 2017,
    Algorithm 2): rows and then columns are scaled down to their marginals, and the missing
    mass is added back as the rank-one ``err_r err_c^T / |err_r|_1``. The result is
    ``(<F, |x-y|>, <F, |x-y|^2>, |err_r|_1)`` for the rounded coupling ``F``.

    Rows are processed ``PLAN_BLOCK // m`` at a time (``lax.scan``), so memory stays linear
    in ``n`` beyond one block; per-row sums are added in float64.
    """
    import jax
    import jax.numpy as jnp

    n, m = x.shape[0], y.shape[0]
    a, b = 1.0 / n, 1.0 / m
    block = max(1, min(n, PLAN_BLOCK // m))
    pad = (-n) % block

    def padded(arr):
        arr = jnp.asarray(arr)
        return jnp.pad(arr, [(0, pad)] + [(0, 0)] * (arr.ndim - 1)).reshape(
            -1, block, *arr.shape[1:]
        )

    y = jnp.asarray(y)
    xs, valid, args = padded(x), padded(jnp.ones(n, bool)), tuple(map(padded, row_args))

    def rows(vb, ab):
        return jnp.where(vb[:, None], plan_rows(*ab), 0.0)

    def distances(xb):
        d2 = (xb * xb).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * xb @ y.T
        d2 = jnp.maximum(d2, 0.0)
        return jnp.sqrt(d2), d2

    @jax.jit
    def row_scaling(valid, args):
        # u_i = min(a / row_i, 1), and the column sums of diag(u) P.
        def body(cols, inp):
            vb, ab = inp
            p = rows(vb, ab)
            u = jnp.minimum(a / jnp.maximum(p.sum(1), 1e-30), 1.0)
            return cols + (u[:, None] * p).sum(0), u

        return jax.lax.scan(body, jnp.zeros(m, y.dtype), (valid, args))

    @jax.jit
    def scaled_costs(xs, valid, u, v, args):
        # P' = diag(u) P diag(v): its costs, row sums and column sums.
        def body(cols, inp):
            xb, vb, ub, ab = inp
            p = rows(vb, ab) * ub[:, None] * v[None, :]
            d1, d2 = distances(xb)
            return cols + p.sum(0), jnp.stack([(p * d1).sum(1), (p * d2).sum(1), p.sum(1)], 1)

        return jax.lax.scan(body, jnp.zeros(m, y.dtype), (xs, valid, u, args))

    @jax.jit
    def rank_one_costs(xs, err_r, err_c):
        def body(_, inp):
            xb, eb = inp
            d1, d2 = distances(xb)
            return None, jnp.stack([eb * (d1 @ err_c), eb * (d2 @ err_c)], 1)

        return jax.lax.scan(body, None, (xs, err_r))[1]

    cols, u = row_scaling(valid, args)
    v = jnp.minimum(b / jnp.maximum(cols, 1e-30), 1.0)
    cols, per_row = scaled_costs(xs, valid, u, v, args)
    per_row = np.asarray(per_row, np.float64).reshape(-1, 3)
    p1, p2 = per_row[:, 0].sum(), per_row[:, 1].sum()
    err_r = np.where(np.asarray(valid).reshape(-1), a - per_row[:, 2], 0.0)
    err_c = b - np.asarray(cols, np.float64)
    moved = err_r.sum()
    if moved > 0:
        extra = rank_one_costs(xs, padded(err_r.astype(np.float32)), jnp.asarray(err_c, y.dtype))
        extra = np.asarray(extra, np.float64).reshape(-1, 2).sum(0) / moved
        p1, p2 = p1 + extra[0], p2 + extra[1]
    return float(p1), float(p2), float(moved)


def entropic_plan_costs(x, y, x_plan, f, g, epsilon, cost: str):
    """Scores ``P_ij = exp((f_i + g_j - c(x_plan_i, y_j)) / epsilon)`` (ott's convention).

    ``x_plan`` is where the solver saw the rows of ``x`` (ProgOT's last interpolation;
    ``x`` itself for Sinkhorn); the plan's rows still belong to ``x``.
    """
    import jax.numpy as jnp

    y = jnp.asarray(y)
    g = jnp.asarray(g)

    def rows(xp, fb):
        c = jnp.maximum((xp * xp).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * xp @ y.T, 0)
        c = jnp.sqrt(c) if cost == "euclidean" else c
        return jnp.exp((fb[:, None] + g[None, :] - c) / epsilon)

    return plan_costs(x, y, rows, (x_plan, f))


def lowrank_plan_costs(x, y, q, r, g):
    """Scores the low-rank plan ``P = Q diag(1/g) R^T``."""
    import jax.numpy as jnp

    r_over_g = jnp.asarray(r) / jnp.asarray(g)[None, :]
    return plan_costs(x, y, lambda qb: qb @ r_over_g.T, (q,))


def mean_cost(x, y, cost: str) -> float:
    """Mean of ``cost`` over all pairs: closed form for the squared Euclidean cost, else
    the cost of the independent coupling (blocks of rows, linear memory)."""
    if cost == "sqeuclidean":
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return float((x64**2).sum(1).mean() + (y64**2).sum(1).mean()
                     - 2.0 * x64.mean(0) @ y64.mean(0))
    n, m = len(x), len(y)
    ones_x, ones_y = np.full((n, 1), 1.0 / n, np.float32), np.full((m, 1), 1.0 / m, np.float32)
    return lowrank_plan_costs(x, y, ones_x, ones_y, np.ones(1, np.float32))[0]


# ----------------------------------------------------------------------------- helpers


def _timed(fn, *args):
    """Compiles ``jax.jit(fn)`` for ``args`` ahead of time, then times one call.

    Returns ``(outputs, seconds, compile_seconds)``.
    """
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - t1, t1 - t0


def _ott_cost(cost: str):
    from ott.geometry import costs

    return costs.Euclidean() if cost == "euclidean" else costs.SqEuclidean()


def _dense_cost(x, y, cost: str) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return cdist(x, y, metric=cost)


def _log(message: str) -> None:
    # Jobs redirect stderr to their log file; flush so progress shows while they run.
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- methods


def run_hiref(x, y, params, seed) -> MethodResult:
    """Hierarchical Refinement (this package)."""
    import hiref

    fields = {f.name for f in dataclasses.fields(HiRefConfig)}
    settings = {k: v for k, v in params.items() if k in fields}
    if settings.get("schedule") is not None:
        settings["schedule"] = tuple(settings["schedule"])
    align = hiref.solve(
        x, y, cost=params["cost"], config=HiRefConfig(**settings), seed=seed,
        progress=lambda info: _log(f"hiref {info}"),
    )
    return MethodResult(
        cost_p1=align.cost_p1, cost_p2=align.cost_p2, seconds=align.seconds, perm=align.perm,
        extra={"schedule": align.schedule, "level_seconds": align.level_seconds, **align.extra},
    )


def run_sinkhorn(x, y, params, seed) -> MethodResult:
    """Entropic OT, ott-jax ``Sinkhorn`` on a dense ``PointCloud``, absolute ``epsilon``."""
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    solver = sinkhorn.Sinkhorn(
        threshold=params["threshold"], max_iterations=params["max_iterations"]
    )
    cost_fn = _ott_cost(params["cost"])

    def solve(x, y):
        geom = pointcloud.PointCloud(x, y, cost_fn=cost_fn, epsilon=params["epsilon"])
        out = solver(linear_problem.LinearProblem(geom))
        return out.f, out.g, out.converged, out.n_iters

    (f, g, converged, n_iters), seconds, compile_seconds = _timed(solve, x, y)
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
    cost_fn = _ott_cost(params["cost"])

    def solve(x, y):
        out = solver(linear_problem.LinearProblem(pointcloud.PointCloud(x, y, cost_fn=cost_fn)))
        last = out.get_output(steps - 1)
        return last.geom.x, last.f, last.g, out.epsilons, out.outputs.converged

    (x_last, f, g, eps, converged), seconds, compile_seconds = _timed(solve, x, y)
    p1, p2, mass = entropic_plan_costs(x, y, x_last, f, g, eps[-1], params["cost"])
    return MethodResult(
        cost_p1=p1, cost_p2=p2, seconds=seconds,
        extra={"epsilons": np.asarray(eps).tolist(), "converged": np.asarray(converged).tolist(),
               "rounded_mass": mass, "compile_seconds": compile_seconds},
    )


def run_lot(x, y, params, seed) -> MethodResult:
    """Low-rank OT (Scetbon et al.), ott-jax ``LRSinkhorn``."""
    import jax
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn_lr

    solver = sinkhorn_lr.LRSinkhorn(
        rank=params["rank"], gamma=params["gamma"], max_iterations=params["max_iterations"]
    )
    cost_fn = _ott_cost(params["cost"])

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

    (q, r, g, converged), seconds, compile_seconds = _timed(solve, x, y, jax.random.key(seed))
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
    (label_x, label_y), seconds, compile_seconds = _timed(
        split, x, y, mask, caps, jax.random.key(seed)
    )
    q = jax.nn.one_hot(label_x, rank) / n
    r = jax.nn.one_hot(label_y, rank) / n
    p1, p2, mass = lowrank_plan_costs(x, y, q, r, caps / n)
    return MethodResult(
        cost_p1=p1, cost_p2=p2, seconds=seconds,
        extra={"rounded_mass": mass, "compile_seconds": compile_seconds},
    )


def run_minibatch(x, y, params, seed) -> MethodResult:
    """Mini-batch OT (Fatras et al.): both clouds are shuffled and cut into batches of
    ``batch_size``; each batch pair is solved exactly (SciPy); the union is a bijection
    whose cost is the average of the batch costs."""
    from scipy.optimize import linear_sum_assignment

    n, size = len(x), params["batch_size"]
    rng = np.random.default_rng(seed)
    order_x, order_y = rng.permutation(n), rng.permutation(n)
    perm = np.empty(n, np.int64)
    t0 = time.perf_counter()
    for start in range(0, n, size):
        bx, by = order_x[start:start + size], order_y[start:start + size]
        rows, cols = linear_sum_assignment(_dense_cost(x[bx], y[by], params["cost"]))
        perm[bx[rows]] = by[cols]
    seconds = time.perf_counter() - t0
    return _bijection_result(x, y, perm, seconds)


def run_exact(x, y, params, seed) -> MethodResult:
    """Exact OT: SciPy's ``linear_sum_assignment`` on the dense cost (the ground truth)."""
    from scipy.optimize import linear_sum_assignment

    t0 = time.perf_counter()
    rows, cols = linear_sum_assignment(_dense_cost(x, y, params["cost"]))
    seconds = time.perf_counter() - t0
    perm = np.empty(len(x), np.int64)
    perm[rows] = cols
    return _bijection_result(x, y, perm, seconds)


def run_bspot(x, y, params, seed) -> MethodResult:
    """BSP-OT (POT ``ot.compute_bspot_bijection``): ``n_plans`` random binary space
    partitioning matchings merged into one bijection."""
    # POT loads every array backend it finds at import (torch alone takes seconds); we
    # pass NumPy arrays, so skip the others unless the caller already chose.
    for backend in ("PYTORCH", "JAX", "TENSORFLOW", "CUPY"):
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")
    import ot

    t0 = time.perf_counter()
    _, perm, _ = ot.compute_bspot_bijection(
        x, y, n_plans=params["n_plans"], p=2 if params["cost"] == "sqeuclidean" else 1,
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    return _bijection_result(x, y, np.asarray(perm, np.int64), seconds)


def _bijection_result(x, y, perm, seconds) -> MethodResult:
    if np.unique(perm).size != len(perm):
        raise RuntimeError("the method returned a map that is not a bijection")
    p1, p2 = matching_costs(x, y, perm)
    return MethodResult(cost_p1=p1, cost_p2=p2, seconds=seconds, perm=perm)


# ----------------------------------------------------------------------------- registry

_HIREF_DEFAULTS = HiRefConfig().to_dict()

METHODS: dict[str, Method] = {
    "hiref": Method(run_hiref, {**_HIREF_DEFAULTS, "max_n": None}, uses_jax=True),
    "sinkhorn": Method(
        run_sinkhorn,
        {"epsilon": 0.05, "threshold": 1e-3, "max_iterations": 2000, "max_n": 16384},
        uses_jax=True, limit="dense n x n cost and plan: memory grows as n^2",
    ),
    "progot": Method(
        run_progot,
        {"num_steps": 2, "alpha_schedule": "exp", "epsilon": None, "max_n": 4096},
        uses_jax=True, limit="dense n x n Sinkhorn at every step: memory grows as n^2",
        # Its steps move points along the cost's twist map, which ott-jax defines for
        # costs h(x - y) with strictly convex h only.
        costs=("sqeuclidean",),
    ),
    "lot": Method(
        run_lot,
        {"rank": 40, "gamma": 10.0, "max_iterations": 2000, "scale_cost": "mean",
         "max_n": None},
        uses_jax=True,
    ),
    "frlc": Method(
        run_frlc,
        {"rank": 40, "outer_iters": _HIREF_DEFAULTS["outer_iters"],
         "inner_iters": _HIREF_DEFAULTS["inner_iters"], "gamma": _HIREF_DEFAULTS["gamma"],
         "cost_rank": _HIREF_DEFAULTS["cost_rank"], "max_n": None},
        uses_jax=True,
    ),
    "minibatch": Method(
        run_minibatch, {"batch_size": 128, "max_n": None}, uses_jax=False, sweep="batch_size"
    ),
    "exact": Method(
        run_exact, {"max_n": 4096}, uses_jax=False,
        limit="dense cost and O(n^3) assignment",
    ),
    "bspot": Method(
        run_bspot, {"n_plans": 64, "max_n": None}, uses_jax=False, sweep="n_plans"
    ),
}

_LABEL = re.compile(r"(?P<name>[a-z]+)(?:-(?P<value>\d+))?")


def label_pattern() -> str:
    """Regular expression of every valid method label (the ``method`` wildcard)."""
    return "|".join(
        name + (r"(?:-\d+)?" if method.sweep else "") for name, method in METHODS.items()
    )


def parse_label(label: str) -> tuple[str, dict]:
    """``"minibatch-128"`` -> ``("minibatch", {"batch_size": 128})``; ``"lot"`` -> ``("lot", {})``."""
    match = _LABEL.fullmatch(label)
    method = METHODS.get(match["name"]) if match else None
    if method is None or (match["value"] is not None and method.sweep is None):
        raise ValueError(f"unknown method {label!r}; known: {', '.join(labels_help())}")
    return match["name"], ({} if match["value"] is None else {method.sweep: int(match["value"])})


def labels_help() -> list[str]:
    return [name + (f"[-<{m.sweep}>]" if m.sweep else "") for name, m in METHODS.items()]


def expand_labels(name: str, settings: dict) -> list[str]:
    """The labels a configured method runs as: one per value of its sweep setting."""
    sweep = METHODS[name].sweep
    if sweep is None or not isinstance(settings.get(sweep), list):
        return [name]
    return [f"{name}-{value}" for value in settings[sweep]]


def resolve_params(label: str, settings: dict | None = None, cost: str = "sqeuclidean") -> dict:
    """Complete settings of a run: defaults, overridden by ``settings`` (the method's
    configuration), by the label's sweep value, and the experiment's ``cost``."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    name, from_label = parse_label(label)
    method = METHODS[name]
    unknown = set(settings or {}) - set(method.defaults)
    if unknown:
        raise ValueError(
            f"methods.{name}: unknown setting(s) {sorted(unknown)}; known: "
            f"{sorted(method.defaults)}"
        )
    params = {**method.defaults, **(settings or {}), **from_label, "cost": cost}
    if isinstance(params.get(method.sweep), list):
        # A list is a sweep; without a label choosing one value, the first is meant.
        params[method.sweep] = params[method.sweep][0]
    return params


def run(label: str, x: np.ndarray, y: np.ndarray, params: dict, seed: int) -> MethodResult:
    """Runs method ``label`` with complete ``params`` (see :func:`resolve_params`), or
    returns a ``skipped`` result when ``n`` exceeds its ``max_n``."""
    name, _ = parse_label(label)
    method = METHODS[name]
    n = max(len(x), len(y))
    if len(x) != len(y):
        return MethodResult(
            status="skipped", params=params,
            reason=f"|x| = {len(x)} != |y| = {len(y)}: the workflow compares bijections",
        )
    if params["cost"] not in method.costs:
        return MethodResult(
            status="skipped", params=params,
            reason=f"{name} supports cost {' or '.join(method.costs)} only, not {params['cost']}",
        )
    if params.get("max_n") is not None and n > params["max_n"]:
        return MethodResult(
            status="skipped", params=params,
            reason=f"n = {n} > methods.{name}.max_n = {params['max_n']} ({method.limit})",
        )
    _log(f"{label}: n = {n}, d = {x.shape[1]}, seed = {seed}, params = {params}")
    result = method.run(x, y, params, seed)
    result.params = params
    _log(f"{label}: done in {result.seconds:.3f} s, W1 {result.cost_p1:.6g}, "
         f"W2 {result.cost_p2:.6g}")
    return result


# ----------------------------------------------------------------------------- records


def solve_and_record(*, data, record, matching, experiment, dataset, method, params, n, seed):
    """One workflow run: loads the prepared pair, runs ``method``, writes the JSON record
    (fields in README, "Results") and the matching (``perm``, empty for plans), atomically.

    A prepared pair larger than ``n`` is subsampled to ``n`` points per side (seeded).
    """
    from hiref import provenance
    from hiref.datasets import load_pair

    t0 = time.perf_counter()
    x, y = load_pair(data)
    if min(len(x), len(y)) < n:
        raise ValueError(f"{data} holds {len(x)} x {len(y)} points, fewer than n = {n}")
    rng = np.random.default_rng(seed)
    if len(x) > n:
        x = x[np.sort(rng.choice(len(x), n, replace=False))]
    if len(y) > n:
        y = y[np.sort(rng.choice(len(y), n, replace=False))]
    result = run(method, x, y, params, seed)
    name, _ = parse_label(method)
    uses_jax = METHODS[name].uses_jax and result.status == "ok"
    out = {
        "experiment": experiment, "dataset": dataset, "method": method, "n": n,
        "d": int(x.shape[1]), "seed": seed, "cost": params["cost"],
        "status": result.status, "reason": result.reason,
        "cost_p1": result.cost_p1, "cost_p2": result.cost_p2,
        "seconds": result.seconds, "wall_seconds": time.perf_counter() - t0,
        "peak_rss_mb": provenance.peak_rss_mb(), "device": provenance.device(uses_jax),
        "params": result.params, "extra": result.extra,
        "versions": provenance.versions(), "git_commit": provenance.git_commit(),
    }
    perm = np.zeros(0, np.int64) if result.perm is None else result.perm
    with provenance.atomic_path(matching) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, perm=perm)
    provenance.write_json(record, out)
