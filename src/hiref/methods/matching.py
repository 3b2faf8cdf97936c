"""Baselines that return a bijection, on the host CPU: exact OT (SciPy), exact mini-batch OT
and BSP-OT (POT), and their specifications (``EXACT``, ``MINIBATCH_EXACT``, ``BSPOT``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from hiref.methods import outputs
from hiref.methods.common import BatchSettings, MethodResult, dense_cost
from hiref.methods.scoring import matching_costs
from hiref.methods.spec import MethodSpec, NoSettings, batch_work
from hiref.seeds import narrow_seed
from hiref.settings import setting


@dataclass(frozen=True)
class BSPOTSettings:
    """Settings of BSP-OT."""

    n_plans: int = setting(64, "Number of BSP matchings merged.", minimum=1)


def run_minibatch_exact(x, y, params, seed) -> MethodResult:
    """Exact mini-batch OT (ours; the authors' mini-batch is entropic, see
    :func:`hiref.methods.entropic.run_minibatch`): both clouds are shuffled independently
    (seeded) and cut into batches of ``batch_size``; each batch pair is solved exactly (SciPy);
    the union is a bijection whose cost is the average of the batch costs."""
    from scipy.optimize import linear_sum_assignment

    n, size = len(x), params["batch_size"]
    rng = np.random.default_rng(seed)
    order_x, order_y = rng.permutation(n), rng.permutation(n)
    perm = np.empty(n, np.int64)
    t0 = time.perf_counter()
    for start in range(0, n, size):
        bx, by = order_x[start:start + size], order_y[start:start + size]
        rows, cols = linear_sum_assignment(dense_cost(x[bx], y[by], params["cost"]))
        perm[bx[rows]] = by[cols]
    seconds = time.perf_counter() - t0
    return _bijection_result(x, y, perm, seconds)


def run_exact(x, y, params, seed) -> MethodResult:
    """Exact OT: SciPy's ``linear_sum_assignment`` on the dense cost (the ground truth)."""
    from scipy.optimize import linear_sum_assignment

    t0 = time.perf_counter()
    rows, cols = linear_sum_assignment(dense_cost(x, y, params["cost"]))
    seconds = time.perf_counter() - t0
    perm = np.empty(len(x), np.int64)
    perm[rows] = cols
    return _bijection_result(x, y, perm, seconds)


#: The power POT's BSP-OT builds and merges its matchings with, under either of the
#: workflow's costs. POT's cost is the sum of the coordinates' differences to the power p, so
#: its p = 1 is the Manhattan distance, not the Euclidean one; its p = 2 (the squared
#: Euclidean cost) gives matchings of lower W1 (measured in docs/methods.md, ``bspot``).
BSPOT_POWER = 2


def run_bspot(x, y, params, seed) -> MethodResult:
    """BSP-OT (POT ``ot.compute_bspot_bijection``): ``n_plans`` random binary space
    partitioning matchings merged into one bijection under the squared Euclidean cost
    (:data:`BSPOT_POWER`), scored under the experiment's cost. POT takes ``seed``, but its
    runs are not repeatable: they differ by a few 1e-5 of the cost (docs/methods.md)."""
    # POT loads every array backend it finds at import (torch alone takes seconds); we
    # pass NumPy arrays, so skip the others unless the caller already chose.
    for backend in ("PYTORCH", "JAX", "TENSORFLOW", "CUPY"):
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")
    import ot

    t0 = time.perf_counter()
    _, perm, _ = ot.compute_bspot_bijection(
        x, y, n_plans=params["n_plans"], p=BSPOT_POWER,
        seed=narrow_seed(seed, 31),  # POT takes seeds below 2**31
    )
    seconds = time.perf_counter() - t0
    return _bijection_result(x, y, np.asarray(perm, np.int64), seconds)


def _bijection_result(x, y, perm, seconds) -> MethodResult:
    if np.unique(perm).size != len(perm):
        raise RuntimeError("the method returned a map that is not a bijection")
    p1, p2 = matching_costs(x, y, perm)
    return MethodResult(cost_p1=p1, cost_p2=p2, seconds=seconds, perm=perm)


MINIBATCH_EXACT = MethodSpec(
    "minibatch_exact", BatchSettings(), run_minibatch_exact, outputs.BIJECTION,
    description="Exact mini-batch OT (ours): independent shuffles of x and y into batches of "
                "batch_size, each batch pair solved exactly (SciPy); the union is a bijection.",
    estimator="exact mini-batch (ours): independent shuffles of x and y, each batch pair "
              "solved exactly (SciPy); cost of the union bijection",
    legend="mini-batch OT, exact batches", uses_jax=False, sweep="batch_size",
    point_work=batch_work,
)
EXACT = MethodSpec(
    "exact", NoSettings(), run_exact, outputs.BIJECTION,
    description="Exact OT, SciPy linear_sum_assignment on the dense cost.",
    estimator="exact OT: SciPy linear_sum_assignment on the dense cost",
    legend="exact OT (SciPy)", uses_jax=False, memory_growth=2, work_growth=3, max_n=4096,
    limit="dense cost and O(n^3) assignment",
)
BSPOT = MethodSpec(
    "bspot", BSPOTSettings(), run_bspot, outputs.BIJECTION,
    description="BSP-OT bijection, POT ot.compute_bspot_bijection, its matchings built and "
                "merged under the squared Euclidean cost (POT's p = 1 is the Manhattan "
                "distance) and scored under the experiment's cost.",
    estimator="BSP-OT (POT): n_plans random BSP matchings merged under the squared Euclidean "
              "cost; cost of the bijection under the experiment's cost",
    legend="BSP-OT (POT)", uses_jax=False, sweep="n_plans",
)
