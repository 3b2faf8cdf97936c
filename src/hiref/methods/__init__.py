"""The workflow's OT methods: one adapter function per method, ``run(x, y, params, seed)``,
and the registry that the workflow's ``method`` wildcard is checked against.

Beside a published number stands the authors' estimator under the paper's name (``hiref``,
``sinkhorn``, ``progot``, ``frlc``, ``minibatch``); our stronger variants stand beside it under
their own names (``hiref_refined``, ``minibatch_exact``). Adapters live in one module per
family (:mod:`.hierarchical`, :mod:`.entropic`, :mod:`.low_rank`, :mod:`.matching`); plans are
scored by :mod:`.scoring`. Baselines call their libraries (ott-jax, POT, SciPy); FRLC, which
neither ships, is :mod:`hiref.frlc`. Solver seconds exclude JIT compilation (compiled ahead of
time, reported separately as ``compile_seconds``) and are taken after ``block_until_ready``.

Importing this package imports neither JAX nor a solver library (adapters import them when
they run), so the workflow can be parsed without them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hiref.config import COSTS, HiRefConfig
from hiref.frlc_config import FRLCConfig
from hiref.methods.common import MethodResult, log
from hiref.methods.entropic import run_minibatch, run_progot, run_sinkhorn
from hiref.methods.hierarchical import run_hiref
from hiref.methods.low_rank import run_frlc, run_lot
from hiref.methods.matching import run_bspot, run_exact, run_minibatch_exact
from hiref.methods.scoring import (
    lowrank_plan_argmax,
    lowrank_plan_costs,
    matching_costs,
    mean_cost,
)

__all__ = [
    "METHODS", "Method", "MethodResult", "expand_labels", "label_pattern", "labels_help",
    "lowrank_plan_argmax", "lowrank_plan_costs", "matching_costs", "mean_cost", "parse_label",
    "resolve_params", "run", "skip_reason",
]


@dataclass(frozen=True)
class Method:
    """A registry entry.

    Attributes:
      run: ``run(x, y, params, seed) -> MethodResult`` (``params`` complete, see ``defaults``).
      defaults: every setting with its default; ``config/schema.yaml`` repeats them.
      uses_jax: whether it runs on JAX's device (else on the host CPU).
      estimator: one line, recorded with every run: what is computed and how it is scored.
      sweep: a setting that the configuration may give as a list; each value becomes a
        variant of the method named ``{method}-{value}`` (e.g. ``minibatch-128``).
      limit: what grows too fast beyond ``max_n``, for the skip reason.
      costs: the costs it can minimise; other costs give a ``skipped`` run.
    """

    run: Callable[[np.ndarray, np.ndarray, dict, int], MethodResult]
    defaults: dict
    uses_jax: bool
    estimator: str
    sweep: str | None = None
    limit: str | None = None
    costs: tuple[str, ...] = COSTS


#: The paper's HiRef: the authors' schedule rule with their code's defaults (max_Q 1024,
#: max_rank 16, hierarchy_depth 6, which is our depth 7 since ours counts the leaf level too;
#: ``plan_levels`` with max_leaf = max_Q - 1 is their ``rank_schedule`` when n factors), one
#: start, no refinement, 60 mirror-descent iterations per level (their JAX port). Their last
#: level, a rank-Q split into singletons, is an exact assignment of each leaf here. Every
#: value is spelled out so that a change of HiRefConfig's defaults cannot change it.
PAPER_HIREF = {**HiRefConfig().to_dict(), "max_leaf": 1023, "max_rank": 16, "depth": 7,
               "top_restarts": 1, "refine_sweeps": 0, "outer_iters": 60}

METHODS: dict[str, Method] = {
    "hiref": Method(
        run_hiref, {**PAPER_HIREF, "max_n": None}, uses_jax=True,
        estimator="paper's HiRef: authors' schedule rule, one start, no refinement, LOT splits "
                  "with fixed inner marginal, exact Q-point leaves; cost of the bijection",
    ),
    "hiref_refined": Method(
        run_hiref, {**HiRefConfig().to_dict(), "max_n": None}, uses_jax=True,
        estimator="our HiRef (HiRefConfig defaults): candidate first splits, refinement "
                  "sweeps; cost of the bijection",
    ),
    "sinkhorn": Method(
        run_sinkhorn,
        {"epsilon": None, "threshold": 1e-3, "max_iterations": 2000, "max_n": 16384},
        uses_jax=True, limit="dense n x n cost and plan: memory grows as n^2",
        estimator="ott Sinkhorn (epsilon null: 0.05 x std of the cost), <C, P> of the entropic "
                  "plan rounded onto the marginals",
    ),
    "progot": Method(
        run_progot,
        {"num_steps": 2, "alpha_schedule": "exp", "epsilon": None, "max_n": 4096},
        uses_jax=True, limit="dense n x n Sinkhorn at every step: memory grows as n^2",
        estimator="ott ProgOT solved on squared Euclidean, <C, P> of its last step's plan "
                  "(rounded onto the marginals) under the scored cost",
    ),
    "lot": Method(
        run_lot,
        {"rank": 40, "gamma": 10.0, "max_iterations": 2000, "scale_cost": "mean",
         "max_n": None},
        uses_jax=True,
        limit="on the Euclidean cost ott evaluates the n x n cost at every iteration: time "
              "grows as n^2",
        estimator="ott LRSinkhorn, <C, P> of the factored low-rank plan rounded onto the "
                  "marginals",
    ),
    "frlc": Method(
        run_frlc, {**FRLCConfig().to_dict(), "max_n": None}, uses_jax=True,
        estimator="FRLC (Halmos et al. 2024, our JAX), <C, P> of the factored low-rank plan "
                  "rounded onto the marginals; argmax map saved",
    ),
    "minibatch": Method(
        run_minibatch, {"batch_size": 128, "max_n": None}, uses_jax=True, sweep="batch_size",
        estimator="entropic mini-batch (authors'): one shared permutation, ott Sinkhorn per "
                  "batch, relative epsilon, mean of <C_b, P_b> (plans rounded)",
    ),
    "minibatch_exact": Method(
        run_minibatch_exact, {"batch_size": 128, "max_n": None}, uses_jax=False,
        sweep="batch_size",
        estimator="exact mini-batch (ours): independent shuffles of x and y, each batch pair "
                  "solved exactly (SciPy); cost of the union bijection",
    ),
    "exact": Method(
        run_exact, {"max_n": 4096}, uses_jax=False,
        limit="dense cost and O(n^3) assignment",
        estimator="exact OT: SciPy linear_sum_assignment on the dense cost",
    ),
    "bspot": Method(
        run_bspot, {"n_plans": 64, "max_n": None}, uses_jax=False, sweep="n_plans",
        estimator="BSP-OT (POT): n_plans random BSP matchings merged; cost of the bijection",
    ),
}

_LABEL = re.compile(r"(?P<name>[a-z]+(?:_[a-z]+)*)(?:-(?P<value>\d+))?")


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


def skip_reason(label: str, params: dict, n_x: int, n_y: int) -> str | None:
    """Why method ``label`` with complete ``params`` does not run on ``n_x`` x ``n_y`` points
    (``None``: it runs). Known before any data is read, so the workflow also uses it to give
    skipped runs no GPU and the smallest cluster request."""
    name, _ = parse_label(label)
    method = METHODS[name]
    if n_x != n_y:
        return f"|x| = {n_x} != |y| = {n_y}: the workflow compares bijections"
    if params["cost"] not in method.costs:
        return f"{name} supports cost {' or '.join(method.costs)} only, not {params['cost']}"
    if params.get("max_n") is not None and n_x > params["max_n"]:
        why = f" ({method.limit})" if method.limit else ""
        return f"n = {n_x} > methods.{name}.max_n = {params['max_n']}{why}"
    return None


def run(label: str, x: np.ndarray, y: np.ndarray, params: dict, seed: int) -> MethodResult:
    """Runs method ``label`` with complete ``params`` (see :func:`resolve_params`), or
    returns a ``skipped`` result (see :func:`skip_reason`)."""
    reason = skip_reason(label, params, len(x), len(y))
    if reason is not None:
        return MethodResult(status="skipped", params=params, reason=reason)
    method, n = METHODS[parse_label(label)[0]], len(x)
    log(f"{label}: n = {n}, d = {x.shape[1]}, seed = {seed}, params = {params}")
    result = method.run(x, y, params, seed)
    result.params = params
    log(f"{label}: done in {result.seconds:.3f} s, W1 {result.cost_p1:.6g}, "
         f"W2 {result.cost_p2:.6g}")
    return result
