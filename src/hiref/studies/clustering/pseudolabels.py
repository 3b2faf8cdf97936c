"""Balanced optimal-transport pseudo-labels (SeLa: Asano, Rupprecht and Vedaldi, ICLR 2020).

Every sample is spread over the K clusters so that all clusters receive the same mass:

    min_Q <Q, -log_p> - epsilon H(Q)   s.t.  Q 1_K = 1_N / N,  Q^T 1_N = 1_K / K,

solved by ott-jax's log-domain Sinkhorn. This equal-size constraint is what fails on
long-tailed data (it splits large classes and merges small ones); P²OT (``p2ot.py``) relaxes it.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from ott.geometry import geometry
from ott.problems.linear import linear_problem
from ott.solvers.linear import sinkhorn


@dataclasses.dataclass(frozen=True)
class SelaConfig:
    """epsilon: entropic regularisation (on costs -log p); threshold: marginal error at
    which Sinkhorn stops; max_iterations: its iteration cap."""

    epsilon: float = 0.1
    threshold: float = 1e-3
    max_iterations: int = 1000

    def __post_init__(self):
        for name in ("epsilon", "threshold"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"sela.{name} must be a positive number, got {value!r}")
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(f"sela.max_iterations must be a positive integer, got "
                             f"{self.max_iterations!r}")


@dataclasses.dataclass(frozen=True)
class SelaOutput:
    """plan: (N, K) balanced plan (rows 1/N, columns 1/K up to ``threshold``);
    iterations: Sinkhorn iterations run; error: the smallest marginal error recorded
    (checked every 10 iterations); converged: it fell below ``threshold`` before the cap."""

    plan: jax.Array
    iterations: jax.Array
    error: jax.Array
    converged: jax.Array


jax.tree_util.register_dataclass(
    SelaOutput, data_fields=["plan", "iterations", "error", "converged"], meta_fields=[]
)


def solve_sela(log_p: jax.Array, config: SelaConfig = SelaConfig()) -> SelaOutput:
    """The balanced plan for log-probabilities ``log_p`` (N, K); jittable."""
    n, k = log_p.shape
    geom = geometry.Geometry(cost_matrix=-log_p, epsilon=config.epsilon)
    problem = linear_problem.LinearProblem(
        geom, a=jnp.full((n,), 1.0 / n, log_p.dtype), b=jnp.full((k,), 1.0 / k, log_p.dtype)
    )
    # Checked every 10 iterations (ott's default inner_iterations) against the threshold.
    out = sinkhorn.Sinkhorn(
        threshold=config.threshold, max_iterations=config.max_iterations, lse_mode=True
    )(problem)
    return SelaOutput(plan=out.matrix, iterations=out.n_iters,
                      error=jnp.min(jnp.where(out.errors >= 0, out.errors, jnp.inf)),
                      converged=out.converged)
