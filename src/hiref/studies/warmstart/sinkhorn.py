"""Log-domain Sinkhorn between two palettes, with the two stopping rules the study compares.

Potentials follow ott-jax's convention, P_ij = exp((f_i + g_j - C_ij) / eps) (they absorb
eps log a and eps log b), and so does the order of the updates: each iteration sets g from f,
then f from g, so a start is a potential f on palette A. The reference study (a PyTorch loop)
updates u = exp(f / eps) from v, then v from u, starting from v: the mirror image.

Stopping rules (``SinkhornSettings.stopping``):

- ``"marginal"`` (ott-jax's rule): the L1 error of the second marginal, ||P^T 1 - b||_1
  (the first is exact after the f update), is below ``threshold``; checked every
  ``check_every`` iterations, so counts are multiples of it. :func:`solve` then matches
  ott-jax's ``Sinkhorn`` update for update (tests/test_warmstart.py checks it).
- ``"scaling"`` (the reference study's ``torch.allclose(log_v, past_log_v, atol)``): the
  largest change of the last-updated log-scaling f / eps in one iteration is below
  ``threshold``; checked after every iteration with ``check_every = 1``.

A solve stopped by ``max_iterations`` counts that many iterations and is not converged.

Potentials are centred: they are defined up to (f + c, g - c), and the start f0, then f at
every check, is shifted so that <a, f> = <b, g>. Sinkhorn's updates commute with the shift,
so it changes neither the plan nor the differences between iterates (nor the iteration
count, in exact arithmetic); it keeps both potentials at the scale of the costs, where
float32 resolves the stopping rule. Without it, a start far off (ott's Gaussian start at
epsilon 0.05) drifts to potentials near +-1500 CIELAB units, whose float32 spacing divided by
epsilon exceeds a 1e-4 threshold: such pairs stalled at the cap where float64 converged.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.scipy.special import entr, logsumexp

#: The stopping rules of :class:`SinkhornSettings`.
STOPPING_RULES = ("marginal", "scaling")


@dataclasses.dataclass(frozen=True)
class SinkhornSettings:
    """One Sinkhorn problem setting of the study (a difficulty level).

    Attributes:
      epsilon: absolute entropic regularisation, in CIELAB distance units.
      stopping: ``"marginal"`` (ott-jax's L1 marginal error) or ``"scaling"`` (the
        reference's largest change of the log-scaling in one iteration).
      threshold: the stopping rule holds below it.
      max_iterations: iteration cap (the reference's 20000); a multiple of ``check_every``.
      check_every: iterations between two checks of the stopping rule.
    """

    epsilon: float = 0.25
    stopping: str = "marginal"
    threshold: float = 1e-3
    max_iterations: int = 20000
    check_every: int = 10

    def __post_init__(self):
        if self.epsilon <= 0 or self.threshold <= 0:
            raise ValueError("warmstart.problems: epsilon and threshold must be positive")
        if self.stopping not in STOPPING_RULES:
            raise ValueError(
                f"warmstart.problems: stopping must be one of {', '.join(STOPPING_RULES)}, "
                f"got {self.stopping!r}"
            )
        if self.check_every < 1 or self.max_iterations % self.check_every:
            raise ValueError(
                "warmstart.problems: max_iterations must be a positive multiple of check_every, "
                f"got {self.max_iterations} and {self.check_every}"
            )


@dataclasses.dataclass(frozen=True)
class SinkhornOutput:
    """f (n,), g (m,): final potentials (ott convention, centred start); iterations: run;
    converged: the stopping rule held before the cap; error: its value at the last check."""

    f: jax.Array
    g: jax.Array
    iterations: jax.Array
    converged: jax.Array
    error: jax.Array


jax.tree_util.register_dataclass(
    SinkhornOutput, data_fields=["f", "g", "iterations", "converged", "error"], meta_fields=[]
)


def euclidean_cost(x: jax.Array, y: jax.Array) -> jax.Array:
    """(n, 3), (m, 3) -> (n, m) Euclidean distances (CIELAB units)."""
    d2 = jnp.sum(x**2, 1)[:, None] + jnp.sum(y**2, 1)[None, :] - 2.0 * x @ y.T
    return jnp.sqrt(jnp.maximum(d2, 0.0))


def update_g(f, b, cost, epsilon):
    """g_j = eps log b_j - eps log sum_i exp((f_i - C_ij) / eps): the b-marginal exact."""
    return epsilon * (jnp.log(b) - logsumexp((f[:, None] - cost) / epsilon, axis=0))


def update_f(g, a, cost, epsilon):
    """f_i = eps log a_i - eps log sum_j exp((g_j - C_ij) / eps): the a-marginal exact."""
    return epsilon * (jnp.log(a) - logsumexp((g[None, :] - cost) / epsilon, axis=1))


def plan(f, g, cost, epsilon) -> jax.Array:
    """P_ij = exp((f_i + g_j - C_ij) / eps), (n, m)."""
    return jnp.exp((f[:, None] + g[None, :] - cost) / epsilon)


def centre(f, g, a, b) -> jax.Array:
    """f shifted by the constant c that makes <a, f - c> = <b, g + c>."""
    return f - 0.5 * (a @ f - b @ g)


def solve(cost, a, b, f0, settings: SinkhornSettings) -> SinkhornOutput:
    """Sinkhorn on cost (n, m) with marginals a (n,), b (m,) from the potential f0 (n,);
    jittable with ``settings`` static."""
    eps = settings.epsilon

    def iteration(_, carry):
        f, _, _ = carry
        g = update_g(f, b, cost, eps)
        return update_f(g, a, cost, eps), f, g

    def block(state):
        f, _, _, it, _ = state
        f, f_before, g = jax.lax.fori_loop(0, settings.check_every, iteration, (f, f, jnp.zeros_like(b)))
        if settings.stopping == "marginal":
            error = jnp.sum(jnp.abs(plan(f, g, cost, eps).sum(0) - b))
        else:
            error = jnp.max(jnp.abs(f - f_before)) / eps
        # The next update recomputes g from f, so shifting f shifts the pair.
        return centre(f, g, a, b), f_before, g, it + settings.check_every, error

    def running(state):
        *_, it, error = state
        return (error >= settings.threshold) & (it < settings.max_iterations)

    f = centre(f0, update_g(f0, b, cost, eps), a, b)
    zero = jnp.asarray(0, jnp.int32)
    init = (f, f, update_g(f, b, cost, eps), zero, jnp.asarray(jnp.inf, f.dtype))
    f, _, _, iterations, error = jax.lax.while_loop(running, block, init)
    # The returned pair: f and the g it determines (the b-marginal exact).
    g = update_g(f, b, cost, eps)
    return SinkhornOutput(f=f, g=g, iterations=iterations,
                          converged=error < settings.threshold, error=error)


def reg_ot_cost(f, g, a, b, cost, epsilon) -> jax.Array:
    """The entropic OT cost <C, P> + eps KL(P | a b^T) from the dual of potentials (f, g):
    <a, f> + <b, g> - eps (sum P - 1) + eps (H(a) + H(b)); ott-jax's ``reg_ot_cost``."""
    mass = plan(f, g, cost, epsilon).sum()
    entropies = jnp.sum(entr(a)) + jnp.sum(entr(b))
    return a @ f + b @ g - epsilon * (mass - 1.0) + epsilon * entropies
