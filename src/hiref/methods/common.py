"""Helpers shared by the method adapters: ahead-of-time compilation and timing, ott-jax
cost functions and progress reports, dense SciPy costs, the result of one run, and the
settings of the mini-batch methods."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hiref.provenance import log
from hiref.settings import setting

#: Long solves log how far they are at most this often (seconds of wall time).
PROGRESS_SECONDS = 30.0


@dataclass
class MethodResult:
    """Outcome of one run.

    Attributes:
      status: ``"ok"`` or ``"skipped"`` (the method cannot run at this size; the paper's "—").
      reason: why a run was skipped.
      cost_p1, cost_p2: primal cost of the plan under |x - y| and |x - y|^2.
      seconds: solver time only (no data loading, compilation or scoring).
      compile_seconds: JIT compilation before the timed solve; None for host-only methods.
      params: every setting the method ran with, defaults included.
      perm: ``perm[i]`` matched to ``x[i]`` for methods that return a bijection, else None.
      arrays: further arrays of the run's ``.npz``: with ``perm``, exactly the keys of the
        method's output form (:mod:`hiref.methods.outputs`).
      extra: method diagnostics (convergence, epsilon, schedule, ...).
    """

    status: str = "ok"
    reason: str | None = None
    cost_p1: float | None = None
    cost_p2: float | None = None
    seconds: float | None = None
    compile_seconds: float | None = None
    params: dict = field(default_factory=dict)
    perm: np.ndarray | None = None
    arrays: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSettings:
    """Settings of the mini-batch methods."""

    batch_size: int = setting(128, "Points per batch (the last batch may be smaller).",
                              minimum=1)


def compile_ahead(fn, *args):
    """``jax.jit(fn)`` compiled ahead of time for ``args``: ``(compiled, compile_seconds)``."""
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def timed_call(compiled, *args):
    """``compiled(*args)`` run to completion: ``(outputs, seconds)``."""
    import jax

    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - start


def compile_and_time(fn, *args):
    """Compiles ``jax.jit(fn)`` for ``args`` ahead of time, then times one call.

    Returns ``(outputs, seconds, compile_seconds)``.
    """
    compiled, compile_seconds = compile_ahead(fn, *args)
    return (*timed_call(compiled, *args), compile_seconds)


def progress_due():
    """A clock for progress lines: each call says whether ``PROGRESS_SECONDS`` have passed
    since the last call that said so (or since the clock was made)."""
    last = [time.perf_counter()]

    def due() -> bool:
        if time.perf_counter() - last[0] < PROGRESS_SECONDS:
            return False
        last[0] = time.perf_counter()
        return True

    return due


def ott_progress(label: str):
    """A ``progress_fn`` for ott-jax's Sinkhorn and LRSinkhorn (called from the compiled
    solve each ``inner_iterations`` iterations) that logs ``label``, the iteration and the
    last marginal error at most every ``PROGRESS_SECONDS``."""
    due = progress_due()

    def report(status) -> None:
        iteration, inner, total, state = status
        iteration, inner = int(iteration), int(inner)
        if iteration % inner or not due():
            return
        errors = np.asarray(state.errors).ravel()
        error = errors[max(0, iteration // inner - 1)] if errors.size else float("nan")
        log(f"{label}: iteration {iteration} of at most {int(total)}, error {error:.3g}")

    return report


def ott_cost(cost: str):
    from ott.geometry import costs

    return costs.Euclidean() if cost == "euclidean" else costs.SqEuclidean()


def dense_cost(x, y, cost: str) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return cdist(x, y, metric=cost)
