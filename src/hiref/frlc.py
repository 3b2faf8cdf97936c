"""FRLC: low-rank optimal transport through factor relaxation with latent coupling (Halmos,
Liu, Gold and Raphael, NeurIPS 2024), written for this package in JAX after the authors'
PyTorch reference (``raphael-group/FRLC``; ``src/FRLC.py`` of ``raphael-group/HiRef``).

A rank-``r`` coupling of ``a`` (n,) and ``b`` (m,) is held as
``P = Q diag(1/g_Q) T diag(1/g_R) R^T``: ``Q`` (n, r) couples ``a`` with its inner marginal
``g_Q = Q^T 1``, ``R`` (m, r) couples ``b`` with ``g_R = R^T 1``, and the latent coupling
``T`` (r, r) couples ``g_Q`` with ``g_R``. Each iteration of coordinate mirror descent

1. takes the gradients of ``<C, P>`` in ``Q`` and ``R`` (with the authors' rank-one
   correction for the moving inner marginal), normalises the step as the authors do,
   ``gamma_k = gamma / max(|grad_Q|_inf, |grad_R|_inf)``, and projects ``Q * exp(-gamma_k
   grad_Q)`` (likewise ``R``) semi-relaxed: the outer marginal ``a`` exactly, the inner
   marginal penalised by ``tau_in KL(. | g_Q)`` (``inner_iters_relaxed`` log-domain updates);
2. recomputes ``g_Q, g_R``, takes the gradient in ``T`` (``diag(1/g_Q) Q^T C R diag(1/g_R)``),
   normalises it the same way and projects ``T * exp(-gamma_T grad_T)`` onto ``(g_Q, g_R)``
   (``inner_iters_balanced`` updates).

It stops after ``max_iter`` iterations, or after at least ``min_iter`` once the authors'
criterion ``gamma_k^-2 (|dQ|_F + |dR|_F + |dT|_F) <= tol`` holds. Every projection ends, as
the authors' does, with the update of the second marginal, so an unconverged projection
leaves its error on the outer marginals; :func:`hiref.methods.scoring.lowrank_plan_costs`
rounds the plan onto the exact marginals before scoring it.

The cost is a :data:`CostOperator` in one of the forms of ``FRLCConfig.cost_form`` (each run
records the form it used, :func:`~hiref.frlc_config.resolve_cost_form`):

- ``dense_matrix``: the exact n x m matrix, divided by its largest entry (the authors'
  max-normalisation of their dense cost, undone by multiplying back);
- ``dense_tiled``: the same exact, max-normalised cost, never held whole: each product
  ``C @ R``, ``C^T @ Q`` is computed a tile of rows at a time from the coordinates
  (:func:`tiled_product`), and the maximum by one tiled pass (:func:`max_pairwise_distance`);
  memory is linear in n, time ``O(n m rank)`` per product. The authors' MERFISH baseline (rank
  500 on 84172 x 84172) ran on this cost, held whole on a GPU;
- ``factors``: exact squared-Euclidean factors, or a sampled rank-``cost_rank`` skeleton (CUR)
  factorisation of the Euclidean cost from ``ceil(cost_rank / cost_eps)`` landmark rows and
  columns, an approximation (the authors' ``low_rank_distance_factorization(r, eps)`` samples
  ``r / eps`` rows and columns as well, by importance rather than uniformly). The factors are
  divided by ``D^p`` with ``D = max_i |x_i - c| + max_j |y_j - c|`` (``c`` the joint centre,
  ``p`` = 1 or 2), a bound of the largest entry that needs no pass over all pairs. The authors
  divide their Euclidean factors by ``C1.max()**1/2 * C2.max()**1/2``, which Python reads as
  ``C1.max() / 2 * C2.max() / 2`` (a half, not the square root they meant), leaving the scale
  arbitrary, and report ``W_cost`` times that factor squared.

Mirror descent itself is invariant to the cost's scale (``gamma_k`` normalises it); the scale
enters through ``tau_in`` and ``tol``.

Deviations from the reference code, each a correction: by default the initial latent coupling
enters the first gradient as ``diag(1/g_Q) T diag(1/g_R)`` like every later one (the reference
of the paper's time used ``inv(T)`` there: ``FRLCConfig(initial_latent="inverse")``, which the
authors' HiRef, :mod:`hiref.authors`, uses to reproduce their runs), and points are centred
before any cost is built (costs are translation invariant; float32 keeps its precision).

Everything except :func:`solve` is a pure function of arrays and a hashable
:class:`FRLCConfig`, with fixed shapes: :func:`solve_operator` accepts marginals with zero
entries for padded rows, so a padded block version can be ``jax.vmap``-ed over blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hiref import costs, seeds
from hiref.config import BLOCK_ENTRIES, COSTS
from hiref.costs import HIGHEST
from hiref.frlc_config import (
    COST_FORMS,
    DENSE_MATRIX_ENTRIES,
    RESOLVED_COST_FORMS,
    FRLCConfig,
    resolve_cost_form,
)
from hiref.provenance import log

__all__ = [
    "COST_FORMS", "DENSE_MATRIX_ENTRIES", "RESOLVED_COST_FORMS", "CostOperator",
    "DenseCost", "FRLCConfig", "FRLCResult", "FactoredCost", "TiledCost", "check_inputs",
    "cost_operator", "factored_plan_cost", "max_pairwise_distance", "resolve_cost_form",
    "solve", "solve_operator", "solve_points", "tiled_product",
]


#: Problems with more cost entries than this report every outer iteration on stderr (at the
#: MERFISH shape one iteration of the dense cost takes minutes on a CPU).
PROGRESS_ENTRIES = DENSE_MATRIX_ENTRIES

#: The projections' scalings are absorbed into the kernel's log-potentials after each of the
#: first ``ABSORB_FIRST`` rounds and after every power of two (:func:`_absorbed_after`), and
#: between absorptions each log-scaling stays within ``LOG_SCALING_MAX``: a kernel entry is
#: at most 1 after an absorption (it is the plan then) and ``exp(60)`` times a row of 2^20
#: such entries stays below float32's largest number (about 3.4e38 = exp(88.7)).
ABSORB_FIRST = 4
LOG_SCALING_MAX = 60.0

#: Every product in the solver runs at full float32 precision, whatever JAX's default (on GPUs
#: it may be TensorFloat-32, a 10-bit mantissa).
_matmul = functools.partial(jnp.matmul, precision=HIGHEST)


def _report_iteration(k, objective, delta) -> None:
    log(f"frlc: iteration {int(k)}, objective {float(objective):.6g}, delta {float(delta):.3g}")


class DenseCost(NamedTuple):
    """The cost matrix ``C`` (n, m) divided by ``scale`` (zero rows and columns for padding)."""

    matrix: jax.Array
    scale: jax.Array

    def times(self, mat: jax.Array) -> jax.Array:
        """``C @ mat`` for ``mat`` (m, r) -> (n, r)."""
        return _matmul(self.matrix, mat)

    def times_transposed(self, mat: jax.Array) -> jax.Array:
        """``C^T @ mat`` for ``mat`` (n, r) -> (m, r)."""
        return _matmul(self.matrix.T, mat)


class FactoredCost(NamedTuple):
    """Factors of the cost divided by ``scale``, ``C ~ left @ right.T`` with ``left`` (n, k)
    and ``right`` (m, k) (zero rows for padding)."""

    left: jax.Array
    right: jax.Array
    scale: jax.Array

    def times(self, mat: jax.Array) -> jax.Array:
        return _matmul(self.left, _matmul(self.right.T, mat))

    def times_transposed(self, mat: jax.Array) -> jax.Array:
        return _matmul(self.right, _matmul(self.left.T, mat))


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["x", "y", "valid_x", "valid_y", "scale"], meta_fields=["cost"])
@dataclasses.dataclass(frozen=True)
class TiledCost:
    """The dense cost ``C_ij = c(x_i, y_j)`` (``cost``) of coordinates ``x`` (n, d) and ``y``
    (m, d) already divided by the normaliser, so that ``C`` is the data's cost divided by
    ``scale``; never held whole: every product is computed a tile of rows at a time
    (:func:`tiled_product`). ``valid_x`` (n,), ``valid_y`` (m,) mark real points; padded rows
    and columns of the cost are zero."""

    x: jax.Array
    y: jax.Array
    valid_x: jax.Array
    valid_y: jax.Array
    scale: jax.Array
    cost: str

    def times(self, mat: jax.Array) -> jax.Array:
        return tiled_product(self.x, self.y, self.valid_x, self.valid_y, mat, self.cost)

    def times_transposed(self, mat: jax.Array) -> jax.Array:
        return tiled_product(self.y, self.x, self.valid_y, self.valid_x, mat, self.cost)


#: A cost as FRLC uses it: ``op.times(mat)`` is ``C @ mat``, ``op.times_transposed(mat)``
#: is ``C^T @ mat``, and ``op.scale`` the factor ``C`` was divided by.
CostOperator = DenseCost | FactoredCost | TiledCost


def tiled_product(rows: jax.Array, cols: jax.Array, valid_rows: jax.Array,
                  valid_cols: jax.Array, mat: jax.Array, cost: str) -> jax.Array:
    """``C @ mat`` for ``C_ij = c(rows_i, cols_j)`` (zero where ``valid_rows`` or
    ``valid_cols`` is False), built ``BLOCK_ENTRIES // m`` rows at a time: memory
    ``O((n + m) r + BLOCK_ENTRIES)``, entries exactly those of :func:`hiref.costs.pairwise`.

    Args:
      rows: (n, d); cols: (m, d); valid_rows: (n,) bool; valid_cols: (m,) bool; mat: (m, r).
    Returns:
      (n, r).
    """
    mat = jnp.where(valid_cols[:, None], mat, 0)

    def tile(points, valid):
        return jnp.where(valid[:, None], _matmul(costs.pairwise(points, cols, cost), mat), 0)

    return _over_row_tiles(tile, rows, valid_rows, cols.shape[0])


def max_pairwise_distance(x: jax.Array, y: jax.Array, valid_x: jax.Array,
                          valid_y: jax.Array) -> jax.Array:
    """``max_ij |x_i - y_j|`` over valid pairs, exactly, a tile of rows at a time (no n x m
    array). ``x`` (n, d), ``y`` (m, d), ``valid_x`` (n,), ``valid_y`` (m,) -> ()."""

    def tile(points, valid):
        sq = costs.pairwise(points, y, "sqeuclidean")
        return jnp.where(valid[:, None] & valid_y[None, :], sq, 0).max(1)

    return jnp.sqrt(_over_row_tiles(tile, x, valid_x, y.shape[0]).max())


def _over_row_tiles(tile, rows: jax.Array, valid: jax.Array, m: int) -> jax.Array:
    """``tile(rows_b (s, d), valid_b (s,)) -> (s, ...)`` applied to ``BLOCK_ENTRIES // m``
    rows at a time (``lax.map``; padded rows are invalid) and concatenated: (n, ...)."""
    size = min(rows.shape[0], max(1, BLOCK_ENTRIES // m))
    pad = (-rows.shape[0]) % size
    tiles = jnp.pad(rows, ((0, pad), (0, 0))).reshape(-1, size, rows.shape[1])
    masks = jnp.pad(valid, (0, pad)).reshape(-1, size)
    out = jax.lax.map(lambda args: tile(*args), (tiles, masks))
    return out.reshape(-1, *out.shape[2:])[:rows.shape[0]]


class FRLCResult(NamedTuple):
    """Output of FRLC; ``P = q diag(1/g_Q) t diag(1/g_R) r^T`` with ``g_Q = q^T 1``,
    ``g_R = r^T 1``.

    Attributes:
      q: (n, r); r: (m, r); t: (r, r) latent coupling.
      n_iters: () outer iterations run.
      delta: () the convergence criterion at the last iteration.
      objective: (max_iter,) ``<C, P>`` of the unrounded plan after each iteration, on the cost
        form the solver ran on, multiplied back to the cost's units (the authors' ``W_cost``,
        rescaled); NaN after the last iteration.
      cost_scale: () the factor the cost was divided by.
    """

    q: jax.Array
    r: jax.Array
    t: jax.Array
    n_iters: jax.Array
    delta: jax.Array
    objective: jax.Array
    cost_scale: jax.Array

    def diagonal_form(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(left (n, r), right (m, r), g (r,))`` with ``P = left diag(1/g) right^T``
        (Scetbon et al.'s form, the authors' ``diagonalize_return``)."""
        g_q = self.q.sum(0)
        return _matmul(self.q, self.t / g_q[:, None]), self.r, self.r.sum(0)


def _project(log_k, log_a, log_b, relax, iters, projection):
    """The projection of ``log_k`` (s, t) onto ``(log_a, log_b)`` evaluated as
    ``projection`` (:data:`hiref.frlc_config.PROJECTIONS`) says."""
    evaluate = _project_scalings if projection == "scalings" else _project_log_domain
    return evaluate(log_k, log_a, log_b, relax, iters)


def _project_log_domain(log_k, log_a, log_b, relax, iters):
    """Log-domain (semi-relaxed) Sinkhorn as the authors': ``iters`` rounds of an exact row
    update and a column update relaxed by ``relax = tau / (tau + eps)`` (1: balanced).

    Args:
      log_k: (s, t) log-kernel; log_a: (s,) with ``-inf`` on padded rows; log_b: (t,).
    Returns:
      (s, t) log of the projected plan (``-inf`` on padded rows).
    """
    valid = jnp.isfinite(log_a)

    def step(_, uv):
        u, v = uv
        u = jnp.where(valid, log_a - jax.nn.logsumexp(log_k + v[None, :], axis=1), -jnp.inf)
        v = relax * (v + log_b - jax.nn.logsumexp(log_k + u[:, None] + v[None, :], axis=0))
        return u, v

    zeros = (jnp.zeros(log_k.shape[0], log_k.dtype), jnp.zeros(log_k.shape[1], log_k.dtype))
    u, v = jax.lax.fori_loop(0, iters, step, zeros)
    return log_k + u[:, None] + v[None, :]


def _project_scalings(log_k, log_a, log_b, relax, iters):
    """:func:`_project_log_domain`'s rounds on scalings of a kernel instead of log-sum-exps
    over every entry (the same updates; two matrix-vector products a round instead of four
    passes of exponentials): the kernel ``exp(log_k + alpha + beta)`` holds log-potentials
    ``alpha`` (s,), ``beta`` (t,), the scalings ``exp(u - alpha)``, ``exp(v - beta)`` the
    rest of the dual variables ``u``, ``v``, and the scalings are absorbed into the
    potentials after the rounds of :func:`_absorbed_after` (a fixed schedule, so that
    blocks batched by ``jax.vmap`` run no branch). Between absorptions each log-scaling is
    kept within ``LOG_SCALING_MAX``, so nothing overflows float32 whatever the kernel.

    Args:
      log_k: (s, t) log-kernel; log_a: (s,) with ``-inf`` on padded rows; log_b: (t,) with
        ``-inf`` on empty columns.
    Returns:
      (s, t) log of the projected plan (``-inf`` on padded rows and empty columns).
    """
    dtype = log_k.dtype
    rows, cols = jnp.isfinite(log_a), jnp.isfinite(log_b)
    a = jnp.where(rows, jnp.exp(jnp.where(rows, log_a, 0)), 0)
    log_k = jnp.where(rows[:, None] & cols[None, :], log_k, -jnp.inf)
    top = jnp.max(log_k, axis=1)  # each row's largest entry scales to 1
    alpha = jnp.where(jnp.isfinite(top), -top, 0).astype(dtype)
    beta = jnp.zeros(log_k.shape[1], dtype)

    def absorb(alpha, beta, log_sa, log_sb):
        alpha, beta = alpha + log_sa, beta + log_sb
        return jnp.exp(log_k + alpha[:, None] + beta[None, :]), alpha, beta

    def step(_, state):
        kernel, alpha, beta, _, log_sb = state
        log_sa = jnp.where(rows, jnp.log(a) - _safe_log(_matmul(kernel, jnp.exp(log_sb))), 0)
        log_sa = jnp.clip(log_sa, -LOG_SCALING_MAX, LOG_SCALING_MAX)
        column = _safe_log(_matmul(kernel.T, jnp.exp(log_sa)))
        log_sb = jnp.where(cols, relax * (log_b - column + beta) - beta, 0)
        return kernel, alpha, beta, log_sa, jnp.clip(log_sb, -LOG_SCALING_MAX, LOG_SCALING_MAX)

    zeros_a, zeros_b = jnp.zeros_like(alpha), jnp.zeros_like(beta)
    kernel, done = jnp.exp(log_k + alpha[:, None]), 0
    # Before any round the duals are zero, as the authors' start: u = alpha + (-alpha).
    state = (kernel, alpha, beta, jnp.where(rows, -alpha, 0), zeros_b)
    for until in _absorbed_after(iters):
        kernel, alpha, beta, log_sa, log_sb = jax.lax.fori_loop(done, until, step, state)
        done = until
        if until < iters:
            kernel, alpha, beta = absorb(alpha, beta, log_sa, log_sb)
            log_sa, log_sb = zeros_a, zeros_b
        state = (kernel, alpha, beta, log_sa, log_sb)
    u = jnp.where(rows, alpha + log_sa, -jnp.inf)
    v = jnp.where(cols, beta + log_sb, -jnp.inf)
    return log_k + u[:, None] + v[None, :]


def _absorbed_after(iters: int) -> list[int]:
    """The rounds after which :func:`_project_scalings` absorbs its scalings, and ``iters``
    last: each of the first ``ABSORB_FIRST`` (the scalings of a kernel far from its marginals
    move most there), then the powers of two (later rounds move them ever less)."""
    points = set(range(1, min(ABSORB_FIRST, iters) + 1))
    points.update(2 ** k for k in range(1, max(1, iters).bit_length()) if 2 ** k < iters)
    return sorted(points | {iters})


def _safe_log(values: jax.Array) -> jax.Array:
    """``log`` of nonnegative values, the smallest positive float for zero (a row or column
    whose kernel underflowed takes the largest scaling allowed, not an infinite one)."""
    return jnp.log(jnp.maximum(values, jnp.finfo(values.dtype).tiny))


def _corrected_gradient(grad: jax.Array, sub: jax.Array, valid: jax.Array) -> jax.Array:
    """The authors' rank-one correction ``grad - 1 w^T``, ``w_k = sum_i grad_ik sub_ik / g_k``
    (the inner marginal ``g = sub^T 1`` moves with ``sub``); zero on padded rows."""
    w = (grad * sub).sum(0) / sub.sum(0)
    return jnp.where(valid[:, None], grad - w[None, :], 0.0)


def _latent(t: jax.Array, g_q: jax.Array, g_r: jax.Array) -> jax.Array:
    """``Lambda = diag(1/g_Q) T diag(1/g_R)`` (r, r), so that ``P = Q Lambda R^T``."""
    return t / g_q[:, None] / g_r[None, :]


def solve_operator(
    op: CostOperator, a: jax.Array, b: jax.Array, key: jax.Array, config: FRLCConfig
) -> FRLCResult:
    """FRLC on a cost operator (pure, jittable, vmappable over padded blocks).

    Args:
      op: the cost, (n, m), normalised (see module docstring).
      a: (n,), b: (m,) marginals summing to one; zero entries mark padded rows.
      key: PRNG key of the random initial couplings.
      config: the settings (static under ``jax.jit``).
    Returns:
      the :class:`FRLCResult`; ``objective`` is multiplied back by ``op.scale``.
    """
    rank, gamma = config.rank, config.gamma
    dtype = a.dtype
    valid_a, valid_b = a > 0, b > 0
    log_a = jnp.where(valid_a, jnp.log(jnp.where(valid_a, a, 1)), -jnp.inf).astype(dtype)
    log_b = jnp.where(valid_b, jnp.log(jnp.where(valid_b, b, 1)), -jnp.inf).astype(dtype)
    balanced, how = config.inner_iters_balanced, config.projection

    # The authors' "Full" initialisation: projections of random kernels exp(-gamma U).
    key_q, key_r, key_t = jax.random.split(key, 3)
    log_g = jnp.full(rank, -math.log(rank), dtype)
    log_q = _project(-gamma * jax.random.uniform(key_q, (a.shape[0], rank), dtype),
                     log_a, log_g, 1.0, balanced, how)
    log_r = _project(-gamma * jax.random.uniform(key_r, (b.shape[0], rank), dtype),
                     log_b, log_g, 1.0, balanced, how)
    log_t = _project(-gamma * jax.random.uniform(key_t, (rank, rank), dtype),
                     jnp.log(jnp.exp(log_q).sum(0)), jnp.log(jnp.exp(log_r).sum(0)), 1.0,
                     balanced, how)

    # ``C R`` is computed once per iteration: the latent step's product with the new ``R`` is
    # the next iteration's ``Q`` gradient (2 cost products an iteration, not 3).
    def iterate(carry):
        k, log_q, log_r, log_t, c_r, objective, _ = carry
        q, r, t = jnp.exp(log_q), jnp.exp(log_r), jnp.exp(log_t)
        g_q, g_r = q.sum(0), r.sum(0)
        latent = _latent(t, g_q, g_r)
        if config.initial_latent == "inverse":
            latent = jnp.where(k == 0, jnp.linalg.inv(t), latent)
        grad_q = _corrected_gradient(_matmul(c_r, latent.T), q, valid_a)
        grad_r = _corrected_gradient(_matmul(op.times_transposed(q), latent), r, valid_b)
        gamma_k = gamma / jnp.maximum(jnp.maximum(jnp.abs(grad_q).max(), jnp.abs(grad_r).max()),
                                      jnp.finfo(dtype).tiny)
        relax = config.tau_in / (config.tau_in + 1.0 / gamma_k)
        relaxed = config.inner_iters_relaxed
        new_log_q = _project(log_q - gamma_k * grad_q, log_a, jnp.log(g_q), relax, relaxed, how)
        new_log_r = _project(log_r - gamma_k * grad_r, log_b, jnp.log(g_r), relax, relaxed, how)
        new_q, new_r = jnp.exp(new_log_q), jnp.exp(new_log_r)
        new_g_q, new_g_r = new_q.sum(0), new_r.sum(0)
        new_c_r = op.times(new_r)
        qcr = _matmul(new_q.T, new_c_r)
        grad_t = _latent(qcr, new_g_q, new_g_r)
        gamma_t = gamma / jnp.maximum(jnp.abs(grad_t).max(), jnp.finfo(dtype).tiny)
        new_log_t = _project(log_t - gamma_t * grad_t, jnp.log(new_g_q), jnp.log(new_g_r),
                             1.0, balanced, how)
        new_t = jnp.exp(new_log_t)
        cost = (qcr * _latent(new_t, new_g_q, new_g_r)).sum() * op.scale
        delta = (jnp.linalg.norm(new_q - q) + jnp.linalg.norm(new_r - r)
                 + jnp.linalg.norm(new_t - t)) / gamma_k**2
        if a.shape[0] * b.shape[0] > PROGRESS_ENTRIES:
            jax.debug.callback(_report_iteration, k + 1, cost, delta)
        return (k + 1, new_log_q, new_log_r, new_log_t, new_c_r, objective.at[k].set(cost),
                delta)

    def running(carry):
        k, delta = carry[0], carry[-1]
        return (k < config.max_iter) & ((k < config.min_iter) | (delta > config.tol))

    objective = jnp.full(config.max_iter, jnp.nan, dtype)
    start = (jnp.int32(0), log_q, log_r, log_t, op.times(jnp.exp(log_r)), objective,
             jnp.asarray(jnp.inf, dtype))
    k, log_q, log_r, log_t, _, objective, delta = jax.lax.while_loop(running, iterate, start)
    return FRLCResult(jnp.exp(log_q), jnp.exp(log_r), jnp.exp(log_t), k, delta, objective,
                      op.scale)


def cost_operator(
    x: jax.Array, y: jax.Array, a: jax.Array, b: jax.Array, cost: str, config: FRLCConfig,
    key: jax.Array,
) -> CostOperator:
    """The normalised cost between ``x`` (n, d) and ``y`` (m, d) with marginals ``a``, ``b``
    (zero on padded rows, whose cost rows are zeroed), in the form
    :func:`~hiref.frlc_config.resolve_cost_form` names. Sampled Euclidean factors need
    ``n == m`` and at least ``config.cost_rank`` points.

    The dense forms divide the cost by its largest entry, computed exactly (the authors'
    max-normalisation); the factored forms by ``D^p`` with ``D = max_i |x_i - c| + max_j
    |y_j - c|``, a bound of it that costs no pass over all pairs.
    """
    form = resolve_cost_form(x.shape[0], y.shape[0], cost, config.cost_form)
    valid_x, valid_y = a > 0, b > 0
    centre = 0.5 * (a @ x + b @ y)
    x, y = x - centre, y - centre
    if form in ("dense_matrix", "dense_tiled"):
        radius = max_pairwise_distance(x, y, valid_x, valid_y)
    else:
        radius = (jnp.where(valid_x, jnp.linalg.norm(x, axis=1), 0).max()
                  + jnp.where(valid_y, jnp.linalg.norm(y, axis=1), 0).max())
    radius = jnp.where(radius > 0, radius, 1.0)
    scale = radius if cost == "euclidean" else radius**2
    x, y = x / radius, y / radius
    if form == "dense_tiled":
        return TiledCost(x, y, valid_x, valid_y, scale, cost)
    if form == "dense_matrix":
        mask = valid_x[:, None] & valid_y[None, :]
        return DenseCost(jnp.where(mask, costs.pairwise(x, y, cost), 0), scale)
    if form == "factors_exact":
        left, right = costs.sqeuclidean_factors(x, y)
    else:
        landmarks = min(x.shape[0], math.ceil(config.cost_rank / config.cost_eps))
        left, right = costs.sampled_factors(x, y, valid_x, config.cost_rank, key,
                                            landmarks=landmarks)
    return FactoredCost(jnp.where(valid_x[:, None], left, 0),
                        jnp.where(valid_y[:, None], right, 0), scale)


def solve_points(x: jax.Array, y: jax.Array, key: jax.Array, *, cost: str,
                 config: FRLCConfig) -> FRLCResult:
    """FRLC between uniform point clouds ``x`` (n, d) and ``y`` (m, d), cost factorisation
    included (pure and jittable with ``cost`` and ``config`` static; no input checks: see
    :func:`solve`)."""
    a = jnp.full(x.shape[0], 1.0 / x.shape[0], x.dtype)
    b = jnp.full(y.shape[0], 1.0 / y.shape[0], y.dtype)
    key_cost, key_init = jax.random.split(key)
    op = cost_operator(x, y, a, b, cost, config, key_cost)
    return solve_operator(op, a, b, key_init, config)


def factored_plan_cost(x, y, left, right, g, cost: str) -> float:
    """``<C, P>`` of the factored plan ``P = left diag(1/g) right^T`` as it stands (no
    rounding onto the marginals) on the exact cost between ``x`` (n, d) and ``y`` (m, d),
    computed in tiles from the coordinates like the authors'
    ``compute_transport_cost_from_factored_plan``: per-row sums in float32, their total in
    float64.

    Args:
      x: (n, d); y: (m, d); left: (n, r); right: (m, r); g: (r,); cost: a name in COSTS.
    """
    return float(np.asarray(_factored_plan_rows(x, y, left, right, g, cost=cost),
                            np.float64).sum())


@functools.partial(jax.jit, static_argnames="cost")
def _factored_plan_rows(x, y, left, right, g, cost):
    centre = 0.5 * (x.mean(0) + y.mean(0))  # costs are translation invariant
    every_x, every_y = jnp.ones(x.shape[0], bool), jnp.ones(y.shape[0], bool)
    c_right = tiled_product(x - centre, y - centre, every_x, every_y, right / g[None, :], cost)
    return (left * c_right).sum(1)


def check_inputs(x, y, cost: str, config: FRLCConfig, seed) -> tuple[np.ndarray, np.ndarray]:
    """Validates a problem for :func:`solve_points`; returns ``x``, ``y`` as float arrays.

    Raises:
      ValueError: naming the fix, for any input FRLC cannot solve.
    """
    if not isinstance(config, FRLCConfig):
        raise ValueError(  # noqa: TRY004 (hostile input is a ValueError throughout)
            f"config must be an FRLCConfig, got {type(config).__name__}.")
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}.")
    seeds.check_seed(seed)
    arrays = []
    for name, arr in (("x", x), ("y", y)):
        arr = np.asarray(arr)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{name} must be a non-empty (points, dimensions) array, got shape "
                             f"{arr.shape}.")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}.")
        arr = arr.astype(np.float64 if arr.dtype == np.float64 else np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or infinite coordinates; remove those points.")
        arrays.append(arr)
    x, y = arrays
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and "
                         f"{y.shape[1]}.")
    n, m = len(x), len(y)
    if config.rank > min(n, m):
        raise ValueError(f"rank {config.rank} exceeds the number of points ({n}, {m}); lower "
                         "FRLCConfig.rank.")
    if resolve_cost_form(n, m, cost, config.cost_form) == "factors_sampled":
        if n != m:
            raise ValueError(f"the sampled Euclidean factorisation needs |x| = |y| (got {n} and "
                             f"{m}); use FRLCConfig(cost_form='auto') (the exact dense cost).")
        if config.cost_rank > n:
            raise ValueError(f"cost_rank {config.cost_rank} exceeds n = {n}; lower "
                             "FRLCConfig.cost_rank or use cost_form='auto' (the exact dense cost).")
    return x, y


def solve(x, y, cost: str = "sqeuclidean", config: FRLCConfig | None = None,
          seed: int = 0) -> FRLCResult:
    """FRLC between uniform point clouds ``x`` (n, d) and ``y`` (m, d) under ``cost``
    (``"sqeuclidean"`` or ``"euclidean"``); deterministic for a given ``seed``, an integer in
    ``[0, 2**64)`` that keys every random draw through :func:`hiref.seeds.jax_key`.

    Raises:
      ValueError: for invalid inputs (see :func:`check_inputs`).
    """
    config = FRLCConfig() if config is None else config
    x, y = check_inputs(x, y, cost, config, seed)
    return _solve_jit(x, y, seeds.jax_key(seed), cost=cost, config=config)


_solve_jit = jax.jit(solve_points, static_argnames=("cost", "config"))
