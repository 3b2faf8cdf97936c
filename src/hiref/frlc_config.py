"""Settings of FRLC (:mod:`hiref.frlc`), apart from the solver so that the method registry
reads them without importing JAX."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

#: Settings of ``FRLCConfig.cost_form``; :func:`resolve_cost_form` names what runs.
COST_FORMS = ("auto", "dense_matrix", "dense_tiled", "factors")
#: Forms a run records (``extra.cost_form``): the exact cost as one matrix or in row tiles
#: (the same estimator, two memory layouts), exact squared-Euclidean factors, or a sampled
#: factorisation of the Euclidean cost (an approximation: a different estimator).
RESOLVED_COST_FORMS = ("dense_matrix", "dense_tiled", "factors_exact", "factors_sampled")
#: ``cost_form="auto"`` materialises the dense cost up to this many entries and tiles it above.
DENSE_MATRIX_ENTRIES = 1 << 24


def resolve_cost_form(n: int, m: int, cost: str, cost_form: str) -> str:
    """The form of the cost an FRLC run on ``n x m`` points under ``cost`` uses (one of
    :data:`RESOLVED_COST_FORMS`). ``auto`` never leaves the exact dense cost: it only chooses
    between holding it as one matrix and computing it in tiles."""
    if cost_form == "auto":
        return "dense_matrix" if n * m <= DENSE_MATRIX_ENTRIES else "dense_tiled"
    if cost_form == "factors":
        return "factors_exact" if cost == "sqeuclidean" else "factors_sampled"
    return cost_form


@dataclass(frozen=True)
class FRLCConfig:
    """Settings of FRLC; defaults are the authors' FRLC baseline on MOSTA (rank 40).

    Attributes:
      rank: rank ``r`` of the coupling (the latent coupling is ``r x r``).
      gamma: mirror-descent step size before normalisation by the gradient's largest entry.
      max_iter, min_iter: at most / at least this many outer iterations.
      inner_iters_balanced: log-domain Sinkhorn updates projecting ``T`` (and initialising
        ``Q``, ``R``, ``T``).
      inner_iters_relaxed: semi-relaxed updates projecting ``Q`` and ``R``.
      tau_in: weight of the KL penalty on the inner marginals in the semi-relaxed projections
        (large: nearly fixed inner marginals).
      tol: the convergence threshold of ``gamma_k^-2 (|dQ|_F + |dR|_F + |dT|_F)``.
      cost_form: how the cost enters the solver (see :func:`resolve_cost_form`):
        ``"dense_matrix"`` (the exact n x m matrix, normalised by its largest entry),
        ``"dense_tiled"`` (the same cost, every product with it computed in row tiles from the
        coordinates: memory linear in n, time n^2 rank per product), ``"factors"`` (exact
        squared-Euclidean factors, or a sampled Euclidean factorisation: linear time) or
        ``"auto"`` (dense: a matrix up to ``DENSE_MATRIX_ENTRIES`` entries, tiled above).
      cost_rank: rank of the sampled Euclidean factorisation.
      cost_eps: the factorisation samples ``ceil(cost_rank / cost_eps)`` landmark rows and
        columns (at most n) and keeps ``cost_rank`` singular directions of their core.
    """

    rank: int = 40
    gamma: float = 30.0
    max_iter: int = 60
    min_iter: int = 25
    inner_iters_balanced: int = 100
    inner_iters_relaxed: int = 40
    tau_in: float = 1e5
    tol: float = 5e-6
    cost_form: str = "auto"
    cost_rank: int = 40
    cost_eps: float = 0.04

    def __post_init__(self):
        for name in ("rank", "max_iter", "min_iter", "inner_iters_balanced",
                     "inner_iters_relaxed", "cost_rank"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FRLCConfig.{name} must be a positive integer, got {value!r}.")
        for name in ("gamma", "tau_in", "tol", "cost_eps"):
            value = getattr(self, name)
            if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                    or not math.isfinite(value) or value <= 0):
                raise ValueError(f"FRLCConfig.{name} must be a positive number, got {value!r}.")
        if self.min_iter > self.max_iter:
            raise ValueError(f"FRLCConfig.min_iter = {self.min_iter} exceeds max_iter = "
                             f"{self.max_iter}; lower min_iter or raise max_iter.")
        if self.cost_eps > 1:
            raise ValueError(f"FRLCConfig.cost_eps must lie in (0, 1], got {self.cost_eps!r}.")
        if self.cost_form not in COST_FORMS:
            raise ValueError(f"FRLCConfig.cost_form must be one of {COST_FORMS}, got "
                             f"{self.cost_form!r}.")

    def replace(self, **changes) -> FRLCConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
