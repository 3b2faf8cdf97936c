"""HiRef as workflow methods: :func:`hiref.solve` with the paper's settings (``hiref``) and
with ours (``hiref_refined``), one settings class (:class:`hiref.HiRefConfig`) with two sets
of defaults."""

from __future__ import annotations

from hiref.config import HiRefConfig
from hiref.methods import outputs
from hiref.methods.common import MethodResult, log
from hiref.methods.spec import MethodSpec
from hiref.settings import from_params, spelled_out

#: The paper's HiRef: the authors' schedule rule with their code's defaults (max_Q 1024,
#: max_rank 16, hierarchy_depth 6, which is our depth 7 since ours counts the leaf level too;
#: ``plan_levels`` with max_leaf = max_Q - 1 is their ``rank_schedule`` when n factors), one
#: start, no refinement, 60 mirror-descent iterations per level (their JAX port). Their last
#: level, a rank-Q split into singletons, is an exact assignment of each leaf here. Every
#: value is spelled out so that a change of HiRefConfig's defaults cannot change it.
PAPER_HIREF = spelled_out(
    HiRefConfig, max_rank=16, max_leaf=1023, depth=7, schedule=None, outer_iters=60,
    inner_iters=12, gamma=5.0, top_restarts=1, cost_rank=32, refine_sweeps=0, refine_tol=1e-4,
    leaf_solver="auto", leaf_threads=0, leaf_memory_mb=512, max_expansion=8,
)


def run_hiref(x, y, params, seed) -> MethodResult:
    """Hierarchical Refinement (:func:`hiref.solve`) with the label's settings (``hiref``: the
    paper's algorithm; ``hiref_refined``: ours)."""
    import hiref

    align = hiref.solve(
        x, y, cost=params["cost"], config=from_params(HiRefConfig, params), seed=seed,
        progress=lambda info: log(f"hiref {info}"),
    )
    return MethodResult(
        cost_p1=align.cost_p1, cost_p2=align.cost_p2, seconds=align.seconds, perm=align.perm,
        compile_seconds=align.compile_seconds,
        extra={"schedule": align.schedule, "level_seconds": align.level_seconds, **align.extra},
    )


HIREF = MethodSpec(
    "hiref", PAPER_HIREF, run_hiref, outputs.BIJECTION,
    description="The paper's HiRef (hiref.HiRefConfig fields): the authors' schedule rule with "
                "their code's defaults (max_Q 1024 = max_leaf + 1, max_rank 16, hierarchy_depth "
                "6 = depth 7), one start (top_restarts 1), no refinement (refine_sweeps 0), 60 "
                "mirror-descent iterations per level (their JAX port); their last level, a "
                "rank-Q split into singletons, is an exact assignment of each leaf here.",
    estimator="paper's HiRef: authors' schedule rule, one start, no refinement, LOT splits "
              "with fixed inner marginal, exact Q-point leaves; cost of the bijection",
    legend="HiRef, the paper's algorithm", uses_jax=True,
)
HIREF_REFINED = MethodSpec(
    "hiref_refined", HiRefConfig(), run_hiref, outputs.BIJECTION,
    description="Our HiRef, hiref.HiRefConfig defaults (candidate first splits, refinement "
                "sweeps).",
    estimator="our HiRef (HiRefConfig defaults): candidate first splits, refinement "
              "sweeps; cost of the bijection",
    legend="HiRef with candidate splits and refinement (ours)", uses_jax=True,
)
