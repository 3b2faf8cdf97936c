"""Settings of FRLC (:mod:`hiref.frlc`), apart from the solver so that the method registry
reads them without importing JAX."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

COST_MATRICES = ("auto", "dense", "factors")
#: ``cost_matrix="auto"`` builds the dense cost when it has at most this many entries.
DENSE_AUTO_ENTRIES = 1 << 24


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
      cost_matrix: ``"dense"`` (the n x m matrix), ``"factors"`` (exact squared-Euclidean
        factors, sampled Euclidean ones) or ``"auto"`` (dense up to ``DENSE_AUTO_ENTRIES``
        entries, else factors).
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
    cost_matrix: str = "auto"
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
        if self.cost_matrix not in COST_MATRICES:
            raise ValueError(f"FRLCConfig.cost_matrix must be one of {COST_MATRICES}, got "
                             f"{self.cost_matrix!r}.")

    def replace(self, **changes) -> FRLCConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
