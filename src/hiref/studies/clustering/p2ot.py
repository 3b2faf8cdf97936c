"""Progressive partial optimal transport (P²OT) pseudo-labels (Zhang, Ren and He, ICLR 2024).

Given a classifier's log-probabilities ``log_p`` (N, K) on N samples, P²OT finds the plan

    min_Q  <Q, -log_p> + lam * KL(Q^T 1_N || rho / K 1_K)
    s.t.   Q >= 0,  Q 1_K <= 1_N / N,  1_N^T Q 1_K = rho,

that moves only a fraction ``rho`` of the mass (each sample at most 1/N, the confident
samples first) and pulls the cluster sizes towards uniform through a KL penalty instead of
forcing them (the balanced SeLa marginal). Adding a virtual cluster of zero cost that must
receive exactly ``1 - rho`` turns the inequality into an equality, and the problem into an
unbalanced OT problem on (N, K + 1): rows exact at 1/N, the virtual column exact at 1 - rho,
the K real columns KL-relaxed towards rho / K. With an entropic term it is the problem

    min_Q  <Q, C> + eps sum_ij Q_ij (log Q_ij - 1) + lam sum_k KL(q_k | rho / K)
    s.t.   Q 1_{K+1} = 1_N / N,  virtual column sum = 1 - rho,

(C = [-log_p, 0], q_k the k-th real column sum, KL(q | beta) = q log(q / beta) - q + beta),
solved by the scaling algorithm of Chizat et al. (2018): a row update, then a column update
whose K real columns are damped by the exponent ``lam / (lam + epsilon)`` (the authors'
``fi = gamma / (gamma + epsilon)``). tests/test_clustering.py checks the plan against a
generic solver of this objective. We run it in the
log domain (potentials, ``logsumexp``), so small epsilon and rho = 1 (an empty virtual
column) are exact rather than overflowing.

The mass ``rho`` grows during training (``rho_at``): first only the most confident samples
are labelled, in the end (``rho_upper = 1``) all of them.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

#: Schedules of rho over training: the authors' sigmoid ramp-up, linear, or rho_base fixed.
RHO_SCHEDULES = ("sigmoid", "linear", "fixed")
#: Steepness of the sigmoid ramp-up exp(-5 (1 - t)^2) (Laine and Aila 2017, as the authors).
SIGMOID_RAMP = 5.0


@dataclasses.dataclass(frozen=True)
class P2OTConfig:
    """Settings of the P²OT pseudo-labels (defaults: the authors' code, but a threshold for
    float32).

    epsilon: entropic regularisation of the scaling algorithm (on costs -log p).
    kl_weight: lam, weight of the KL penalty pulling cluster sizes towards uniform.
    rho_base, rho_upper: transported mass at the start and at the end of training.
    rho_schedule: how rho grows from rho_base to rho_upper (``RHO_SCHEDULES``).
    threshold: the scaling stops once no log-scaling moves more than this in one iteration.
    max_iterations: iteration cap of the scaling algorithm.
    """

    epsilon: float = 0.1
    kl_weight: float = 1.0
    rho_base: float = 0.1
    rho_upper: float = 1.0
    rho_schedule: str = "sigmoid"
    threshold: float = 1e-5
    max_iterations: int = 1000

    def __post_init__(self):
        for name in ("epsilon", "kl_weight", "threshold"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"p2ot.{name} must be a positive number, got {value!r}")
        for name in ("rho_base", "rho_upper"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ValueError(f"p2ot.{name} must lie in (0, 1], got {value!r}")
        if self.rho_upper < self.rho_base:
            raise ValueError(
                f"p2ot.rho_upper ({self.rho_upper}) is below p2ot.rho_base ({self.rho_base}): "
                "rho only grows during training"
            )
        if self.rho_schedule not in RHO_SCHEDULES:
            raise ValueError(
                f"p2ot.rho_schedule must be one of {', '.join(RHO_SCHEDULES)}, "
                f"got {self.rho_schedule!r}"
            )
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(f"p2ot.max_iterations must be a positive integer, got "
                             f"{self.max_iterations!r}")


def rho_at(progress, config: P2OTConfig):
    """Transported mass at training progress ``progress`` in [0, 1] (a scalar or an array)."""
    t = jnp.clip(jnp.asarray(progress, jnp.float32), 0.0, 1.0)
    if config.rho_schedule == "sigmoid":
        ramp = jnp.exp(-SIGMOID_RAMP * (1.0 - t) ** 2)
    elif config.rho_schedule == "linear":
        ramp = t
    else:
        ramp = jnp.zeros_like(t)
    return config.rho_base + (config.rho_upper - config.rho_base) * ramp


@dataclasses.dataclass(frozen=True)
class P2OTOutput:
    """plan: (N, K) mass of each sample on each real cluster; rows sum to at most 1/N and
    all of it to rho. virtual: (N,) mass left on the virtual cluster (plan rows + virtual
    = 1/N exactly). iterations: scaling iterations run. change: the last iteration's largest
    log-scaling change. converged: it is at most ``threshold`` (false: stopped by the cap)."""

    plan: jax.Array
    virtual: jax.Array
    iterations: jax.Array
    change: jax.Array
    converged: jax.Array


jax.tree_util.register_dataclass(
    P2OTOutput, data_fields=["plan", "virtual", "iterations", "change", "converged"],
    meta_fields=[],
)


def solve_p2ot(log_p: jax.Array, rho, config: P2OTConfig = P2OTConfig(),
               kl_weight=None) -> P2OTOutput:
    """The P²OT plan for log-probabilities ``log_p`` (N, K) and transported mass ``rho``.

    Jittable (``rho`` and ``kl_weight``, which overrides ``config.kl_weight``, may be
    traced, so a sweep over lam compiles once); ``log_p`` needs no normalisation beyond
    being finite. Ends with a row update, so every sample's mass (real clusters + virtual)
    is exactly 1/N.
    """
    n, k = log_p.shape
    eps = config.epsilon
    dtype = log_p.dtype
    # Augmented cost (N, K + 1): -log p on the real clusters, 0 on the virtual one.
    cost = jnp.concatenate([-log_p, jnp.zeros((n, 1), dtype)], axis=1)
    log_rows = jnp.full((n,), -jnp.log(n), dtype)
    rho = jnp.asarray(rho, dtype)
    # log(1 - rho) is -inf at rho = 1: the virtual column then receives nothing.
    log_cols = jnp.concatenate([jnp.full((k,), jnp.log(rho / k)), jnp.log1p(-rho)[None]])
    # Exponent of the column update: lam / (lam + eps) on the KL-relaxed real columns, 1 (an
    # exact marginal) on the virtual one.
    lam = jnp.asarray(config.kl_weight if kl_weight is None else kl_weight, dtype)
    damping = jnp.concatenate([jnp.full((k,), lam / (lam + eps), dtype), jnp.ones(1, dtype)])

    def row_update(g):
        return eps * (log_rows - jax.nn.logsumexp((g[None, :] - cost) / eps, axis=1))

    def column_update(f):
        return damping * eps * (log_cols - jax.nn.logsumexp((f[:, None] - cost) / eps, axis=0))

    def step(state):
        g, _, it = state
        g_new = column_update(row_update(g))
        moved = jnp.abs(g_new - g) / eps
        # Both -inf (the empty virtual column at rho = 1) is no movement.
        moved = jnp.where(jnp.isfinite(moved), moved, 0.0)
        return g_new, jnp.max(moved), it + 1

    def running(state):
        _, change, it = state
        return (change > config.threshold) & (it < config.max_iterations)

    init = (jnp.zeros(k + 1, dtype), jnp.asarray(jnp.inf, dtype), jnp.asarray(0, jnp.int32))
    g, change, iterations = jax.lax.while_loop(running, step, init)
    f = row_update(g)
    full = jnp.exp((f[:, None] + g[None, :] - cost) / eps)
    return P2OTOutput(plan=full[:, :k], virtual=full[:, k], iterations=iterations,
                      change=change, converged=change <= config.threshold)
