"""Scoring of transport plans: every method's plan is scored under p = 1 (Euclidean, "W1")
and p = 2 (squared Euclidean, "W2"), whatever cost it minimised.

- matchings are scored pair by pair with :func:`hiref.costs.coupling_cost`;
- entropic plans and low-rank plans are scored as the primal cost ``<F, C>`` of the plan
  itself (not a matching rounded from it), where ``F`` is the plan projected onto the exact
  marginals by Altschuler et al.'s rounding (solvers stop at a marginal tolerance, and an
  infeasible plan could undercut the optimum); the plan is rebuilt a block of rows at a time
  from the solver's potentials or factors, so memory stays linear in ``n`` beyond the
  solver's own. Beside it, in the same pass, the cost ``<P, C>`` of the plan as the solver
  returned it, unrounded: the authors' estimator (they reported Sinkhorn's, ProgOT's,
  FRLC's and their mini-batch plans so). A run records both (:class:`PlanCosts`): ``W1``,
  ``W2`` are the rounded plan's, ``extra`` holds ``unrounded_cost_p1``,
  ``unrounded_cost_p2`` and ``rounded_mass``, the mass the rounding moved.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from hiref.config import BLOCK_ENTRIES, COSTS


def matching_costs(x: np.ndarray, y: np.ndarray, perm: np.ndarray) -> tuple[float, float]:
    """(p = 1, p = 2) costs of the bijection ``x[i] -> y[perm[i]]``, uniform masses."""
    from hiref.costs import coupling_cost

    n = len(x)
    rows, weights = np.arange(n), np.full(n, 1.0 / n)
    return tuple(coupling_cost(x, y, rows, perm, weights, p) for p in (1, 2))


class PlanCosts(NamedTuple):
    """Costs of a transport plan ``P`` under p = 1 and p = 2.

    Attributes:
      p1, p2: ``<F, |x - y|>`` and ``<F, |x - y|^2>`` of ``F``, ``P`` rounded onto the exact
        marginals (a feasible coupling: these never undercut the optimum).
      moved: the mass the rounding moved, ``|err_r|_1`` (0 for a feasible ``P``).
      unrounded_p1, unrounded_p2: ``<P, |x - y|>`` and ``<P, |x - y|^2>`` of ``P`` as the
        solver returned it (the authors' estimator; it may undercut the optimum by about the
        cost of the missing mass).
    """

    p1: float
    p2: float
    moved: float
    unrounded_p1: float
    unrounded_p2: float

    def extra(self) -> dict:
        """What a run records beside its W1 and W2 (the rounded plan's)."""
        return {"rounded_mass": self.moved, "unrounded_cost_p1": self.unrounded_p1,
                "unrounded_cost_p2": self.unrounded_p2}


def plan_costs(x, y, plan_rows: Callable, row_args: tuple, shared_args: tuple = ()) -> PlanCosts:
    """Primal costs under p = 1 and p = 2 of a plan given implicitly by rows, made feasible,
    and of the plan as given.

    ``plan_rows(*row_args_block, *shared_args) -> (b, m)`` builds the rows of ``P`` for one
    block of ``b`` rows; ``row_args`` are per-row arrays (first axis ``n``) it receives
    sliced, ``shared_args`` arrays it receives whole. ``plan_rows`` is a static argument of
    the compiled programs: a module-level function (like :func:`_lowrank_rows`), so that they
    compile once per function and shapes, not on every call. Solvers stop at a marginal
    tolerance, and an infeasible plan can undercut the optimal cost, so ``P`` is first rounded
    onto the transport polytope (Altschuler, Weed and Rigollet 2017, Algorithm 2): rows and
    then columns are scaled down to their marginals, and the missing mass is added back as the
    rank-one ``err_r err_c^T / |err_r|_1``. The result is the :class:`PlanCosts` of the
    rounded coupling ``F`` and of ``P`` itself.

    Rows are processed ``BLOCK_ENTRIES // m`` at a time (``lax.scan``), so memory stays linear
    in ``n`` beyond one block; per-row sums are added in float64.
    """
    import jax.numpy as jnp

    from hiref.costs import DIVISOR_FLOOR

    n, m = x.shape[0], y.shape[0]
    b = 1.0 / m
    block = max(1, min(n, BLOCK_ENTRIES // m))
    pad = (-n) % block

    def padded(arr):
        arr = jnp.asarray(arr)
        return jnp.pad(arr, [(0, pad)] + [(0, 0)] * (arr.ndim - 1)).reshape(
            -1, block, *arr.shape[1:]
        )

    y = jnp.asarray(y)
    xs, valid, args = padded(x), padded(jnp.ones(n, bool)), tuple(map(padded, row_args))
    shared = tuple(map(jnp.asarray, shared_args))
    cols, u = _compiled(_row_scaling, ("plan_rows", "n"))(
        valid, args, shared, y, plan_rows=plan_rows, n=n)
    v = jnp.minimum(b / jnp.maximum(cols, DIVISOR_FLOOR), 1.0)
    cols, per_row = _compiled(_scaled_costs, ("plan_rows",))(
        xs, valid, u, v, args, shared, y, plan_rows=plan_rows)
    per_row = np.asarray(per_row, np.float64).reshape(-1, 5)
    p1, p2 = per_row[:, 0].sum(), per_row[:, 1].sum()
    unrounded = per_row[:, 3].sum(), per_row[:, 4].sum()
    err_r = np.where(np.asarray(valid).reshape(-1), 1.0 / n - per_row[:, 2], 0.0)
    err_c = b - np.asarray(cols, np.float64)
    moved = err_r.sum()
    if moved > 0:
        # err_r is per padded row already (n + pad): shape it into blocks, do not pad it again.
        err_r = jnp.asarray(err_r.reshape(xs.shape[:2]), y.dtype)
        extra = _compiled(_rank_one_costs, ())(xs, err_r, jnp.asarray(err_c, y.dtype), y)
        extra = np.asarray(extra, np.float64).reshape(-1, 2).sum(0) / moved
        p1, p2 = p1 + extra[0], p2 + extra[1]
    return PlanCosts(float(p1), float(p2), float(moved), *map(float, unrounded))


@functools.cache
def _compiled(function: Callable, static_argnames: tuple[str, ...]) -> Callable:
    """``jax.jit(function)``, made once per function: the registry imports this module
    without JAX, so the compiled programs are built on first use, not at import."""
    import jax

    return jax.jit(function, static_argnames=static_argnames)


def _row_scaling(valid, args, shared, y, *, plan_rows, n):
    """The row scalings ``u_i = min(a / row_i, 1)`` (blocks, b) of :func:`plan_costs` and the
    column sums (m,) of ``diag(u) P``."""
    import jax
    import jax.numpy as jnp

    from hiref.costs import DIVISOR_FLOOR

    a = 1.0 / n

    def body(cols, inp):
        vb, ab = inp
        p = _valid_rows(plan_rows, vb, ab, shared)
        u = jnp.minimum(a / jnp.maximum(p.sum(1), DIVISOR_FLOOR), 1.0)
        return cols + (u[:, None] * p).sum(0), u

    return jax.lax.scan(body, jnp.zeros(y.shape[0], y.dtype), (valid, args))


def _scaled_costs(xs, valid, u, v, args, shared, y, *, plan_rows):
    """Of ``P' = diag(u) P diag(v)``: its column sums (m,), and per row (blocks, b, 5) its
    p = 1 and p = 2 costs and row sum, then ``P``'s own p = 1 and p = 2 costs."""
    import jax
    import jax.numpy as jnp

    def body(cols, inp):
        xb, vb, ub, ab = inp
        raw = _valid_rows(plan_rows, vb, ab, shared)
        p = raw * ub[:, None] * v[None, :]
        d1, d2 = _distances(xb, y)
        return cols + p.sum(0), jnp.stack([(p * d1).sum(1), (p * d2).sum(1), p.sum(1),
                                           (raw * d1).sum(1), (raw * d2).sum(1)], 1)

    return jax.lax.scan(body, jnp.zeros(y.shape[0], y.dtype), (xs, valid, u, args))


def _rank_one_costs(xs, err_r, err_c, y):
    """Per row (blocks, b, 2): the p = 1 and p = 2 costs of ``err_r err_c^T``."""
    import jax
    import jax.numpy as jnp

    def body(_, inp):
        xb, eb = inp
        d1, d2 = _distances(xb, y)
        return None, jnp.stack([eb * (d1 @ err_c), eb * (d2 @ err_c)], 1)

    return jax.lax.scan(body, None, (xs, err_r))[1]


def _valid_rows(plan_rows, valid, row_args, shared):
    """One block's rows of ``P`` (b, m), zero on padded rows (``valid`` (b,) False)."""
    import jax.numpy as jnp

    return jnp.where(valid[:, None], plan_rows(*row_args, *shared), 0.0)


def _distances(xb, y):
    """|x_i - y_j| and |x_i - y_j|^2 (b, m) of a block of rows ``xb`` (b, d)."""
    import jax.numpy as jnp

    d2 = _squared_distances(xb, y)
    return jnp.sqrt(d2), d2


def entropic_plan_costs(x, y, x_plan, f, g, epsilon, cost: str) -> PlanCosts:
    """Scores ``P_ij = exp((f_i + g_j - c(x_plan_i, y_j)) / epsilon)`` (ott's convention).

    ``x_plan`` is where the solver saw the rows of ``x`` (ProgOT's last interpolation;
    ``x`` itself for Sinkhorn); the plan's rows still belong to ``x``.
    """
    return plan_costs(x, y, _ENTROPIC_ROWS[cost], (x_plan, f), (y, g, epsilon))


def _entropic_rows(xp, fb, y, g, epsilon, *, cost):
    return _entropic_plan(xp, y, fb, g, epsilon, cost)


#: The rows of an entropic plan under each cost: one function per cost, made once, so that
#: :func:`plan_costs` compiles once for each.
_ENTROPIC_ROWS = {cost: functools.partial(_entropic_rows, cost=cost) for cost in COSTS}


def batches_per_chunk(count: int, size: int, dim: int) -> int:
    """How many of ``count`` batches of ``size`` points in ``dim`` dimensions are solved or
    scored at once: their cost entries (``size**2`` each) and their gathered points
    (``size * dim`` a side) both within ``BLOCK_ENTRIES``, so that the chunk's memory does
    not grow with n, nor with d (in 2048-D, 1024 batches of 128 gathered 1 GiB a side)."""
    return max(1, min(count, BLOCK_ENTRIES // (size * max(size, dim))))


def batch_plan_costs(x, y, batches, f, g, epsilon, cost: str) -> PlanCosts:
    """Scores the entropic plans of ``k`` batches of ``b`` points each: batch ``k`` pairs
    ``x[batches[k]]`` with ``y[batches[k]]`` by ``P_ij = exp((f_i + g_j - c(x_i, y_j)) /
    epsilon_k)`` (ott's convention), rounded onto its uniform marginals as :func:`plan_costs`
    does, and as it stands.

    Args:
      x, y: (n, d); batches: (k, b) int indices; f, g: (k, b); epsilon: (k,).
    Returns:
      a :class:`PlanCosts` whose every field is (k,): the batches' costs.
    """
    chunk = batches_per_chunk(*batches.shape, x.shape[1])
    scores = _compiled(_batch_scores, ("cost", "chunk"))(
        x, y, batches, f, g, epsilon, cost=cost, chunk=chunk)
    return PlanCosts(*(np.asarray(v, np.float64) for v in scores))


def _batch_scores(x, y, batches, f, g, epsilon, *, cost, chunk):
    """The five :class:`PlanCosts` fields (k,) of every batch, ``chunk`` batches at a time."""
    import jax
    import jax.numpy as jnp

    def one(batch):
        idx, fb, gb, eb = batch
        d2 = _squared_distances(x[idx], y[idx])
        plan = _entropic_plan(x[idx], y[idx], fb, gb, eb, cost)
        rounded, moved = _round_onto_uniform(plan)
        d1 = jnp.sqrt(d2)
        return ((rounded * d1).sum(), (rounded * d2).sum(), moved, (plan * d1).sum(),
                (plan * d2).sum())

    return jax.lax.map(one, (batches, f, g, epsilon), batch_size=chunk)


def lowrank_plan_argmax(q, r, g) -> np.ndarray:
    """The argmax map of ``P = Q diag(1/g) R^T``: for each row ``i`` the column of its largest
    entry, (n,) int64; ``BLOCK_ENTRIES // m`` rows at a time."""
    import jax.numpy as jnp

    block = max(1, min(q.shape[0], BLOCK_ENTRIES // r.shape[0]))
    r_over_g = jnp.asarray(r) / jnp.asarray(g)[None, :]
    return np.asarray(_compiled(_argmax_rows, ("block",))(jnp.asarray(q), r_over_g, block=block),
                      np.int64)


def _argmax_rows(q, r_over_g, *, block):
    import jax
    import jax.numpy as jnp

    return jax.lax.map(lambda row: jnp.argmax(r_over_g @ row), q, batch_size=block)


def lowrank_plan_costs(x, y, q, r, g) -> PlanCosts:
    """Scores the low-rank plan ``P = Q diag(1/g) R^T``."""
    import jax.numpy as jnp

    r_over_g = jnp.asarray(r) / jnp.asarray(g)[None, :]
    return plan_costs(x, y, _lowrank_rows, (q,), (r_over_g,))


def _lowrank_rows(qb, r_over_g):
    return qb @ r_over_g.T


def mean_cost(x, y, cost: str) -> float:
    """Mean of ``cost`` over all pairs: closed form for the squared Euclidean cost, else
    the cost of the independent coupling (blocks of rows, linear memory)."""
    if cost == "sqeuclidean":
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return float((x64**2).sum(1).mean() + (y64**2).sum(1).mean()
                     - 2.0 * x64.mean(0) @ y64.mean(0))
    n, m = len(x), len(y)
    ones_x, ones_y = np.full((n, 1), 1.0 / n, np.float32), np.full((m, 1), 1.0 / m, np.float32)
    return lowrank_plan_costs(x, y, ones_x, ones_y, np.ones(1, np.float32)).p1


def _squared_distances(x, y):
    """|x_i - y_j|^2 (s, t) for ``x`` (s, d), ``y`` (t, d), clipped at zero."""
    import jax.numpy as jnp

    return jnp.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T, 0.0)


def _entropic_plan(x, y, f, g, epsilon, cost: str):
    """``exp((f_i + g_j - c(x_i, y_j)) / epsilon)`` (s, t), ott's convention."""
    import jax.numpy as jnp

    c = _squared_distances(x, y)
    c = jnp.sqrt(c) if cost == "euclidean" else c
    return jnp.exp((f[:, None] + g[None, :] - c) / epsilon)


def _round_onto_uniform(p):
    """Altschuler et al.'s rounding of a dense plan (s, t) onto uniform marginals (see
    :func:`plan_costs`); returns the rounded plan and the mass it moved."""
    import jax.numpy as jnp

    from hiref.costs import DIVISOR_FLOOR

    a, b = 1.0 / p.shape[0], 1.0 / p.shape[1]
    p = p * jnp.minimum(a / jnp.maximum(p.sum(1), DIVISOR_FLOOR), 1.0)[:, None]
    p = p * jnp.minimum(b / jnp.maximum(p.sum(0), DIVISOR_FLOOR), 1.0)[None, :]
    err_r, err_c = a - p.sum(1), b - p.sum(0)
    moved = err_r.sum()
    return p + jnp.where(moved > 0, jnp.outer(err_r, err_c) / jnp.maximum(moved, DIVISOR_FLOOR), 0.0), moved
