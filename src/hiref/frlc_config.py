"""Settings of FRLC (:mod:`hiref.frlc`), apart from the solver so that the method registry
reads them without importing JAX."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from hiref.settings import setting

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

    # Each field's doc and limits (hiref.settings.setting) document and check the workflow's
    # methods.frlc; __post_init__ enforces the same limits on any FRLCConfig.
    rank: int = setting(40, "Rank of the coupling.", minimum=1)
    gamma: float = setting(30.0, "Mirror-descent step size, divided by the gradient's largest "
                           "entry (the authors' normalisation).", exclusiveMinimum=0)
    max_iter: int = setting(60, "Largest number of outer iterations.", minimum=1)
    min_iter: int = setting(25, "Smallest number of outer iterations before the convergence "
                            "criterion may stop the solver.", minimum=1)
    inner_iters_balanced: int = setting(100, "Log-domain Sinkhorn updates projecting the latent "
                                        "coupling T (and initialising Q, R and T).", minimum=1)
    inner_iters_relaxed: int = setting(40, "Semi-relaxed Sinkhorn updates projecting Q and R.",
                                       minimum=1)
    tau_in: float = setting(1e5, "KL penalty weight on the inner marginals in the semi-relaxed "
                            "projections (large: nearly fixed inner marginals).",
                            exclusiveMinimum=0)
    tol: float = setting(5e-6, "Convergence threshold of gamma_k^-2 (|dQ|_F + |dR|_F + |dT|_F), "
                         "on the cost normalised to [0, 1].", exclusiveMinimum=0)
    cost_matrix: str = setting("auto", "dense: the n x m cost; factors: exact squared-Euclidean "
                               "factors or a sampled Euclidean factorisation; auto: dense up to "
                               "2^24 entries, else factors.", enum=list(COST_MATRICES))
    cost_rank: int = setting(40, "Rank of the sampled Euclidean cost factorisation.", minimum=1)
    cost_eps: float = setting(0.04, "The Euclidean factorisation samples ceil(cost_rank / "
                              "cost_eps) landmark rows and columns (the authors' eps).",
                              exclusiveMinimum=0, maximum=1)

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
