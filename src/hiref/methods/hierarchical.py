"""HiRef as a workflow method: :func:`hiref.solve` with the run's settings."""

from __future__ import annotations

import dataclasses

from hiref.config import HiRefConfig
from hiref.methods.common import MethodResult, log


def run_hiref(x, y, params, seed) -> MethodResult:
    """Hierarchical Refinement (:func:`hiref.solve`) with the label's settings (``hiref``: the
    paper's algorithm; ``hiref_refined``: ours)."""
    import hiref

    fields = {f.name for f in dataclasses.fields(HiRefConfig)}
    settings = {k: v for k, v in params.items() if k in fields}
    if settings.get("schedule") is not None:
        settings["schedule"] = tuple(settings["schedule"])
    align = hiref.solve(
        x, y, cost=params["cost"], config=HiRefConfig(**settings), seed=seed,
        progress=lambda info: log(f"hiref {info}"),
    )
    return MethodResult(
        cost_p1=align.cost_p1, cost_p2=align.cost_p2, seconds=align.seconds, perm=align.perm,
        compile_seconds=align.compile_seconds,
        extra={"schedule": align.schedule, "level_seconds": align.level_seconds, **align.extra},
    )
