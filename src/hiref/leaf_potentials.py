"""Column potentials that make SciPy's exact assignment of large blocks fast.

SciPy's ``linear_sum_assignment`` augments one row at a time along shortest paths, its
potentials starting at zero. On geometric costs (points on curves, a cloud shifted against
the other) a block of 2048 points then takes 4-8 s on this project's 2-core CPU. Subtracting
a potential ``g_j`` from every column leaves the optimal assignments unchanged (each
assignment counts every column once), but with near-optimal dual potentials each shortest
path is short: SciPy then takes 0.1-0.3 s on them, after about 0.25 s to compute ``g``.

``g`` is the column potential of entropic OT between the block's rows and columns (uniform
weights) after a few Sinkhorn iterations at each of a decreasing series of epsilons, in
float32 (:func:`column_potentials`). Its accuracy only decides the speed: the assignment is
solved exactly on ``cost - g`` in float64 whatever ``g`` is, and a ``g`` that is not finite is
not used.

The device's batched solver (:mod:`hiref.assignment`) starts from Jonker and Volgenant's
column reduction, which absorbs any column potential; there the row potential matters, and
:func:`reduced_cost` subtracts both inside the jitted leaf program: a 2048-point 2-D block
took 0.7 s instead of 13 s on this CPU, a 1024-point one 0.1 s instead of 1.4 s.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

#: Blocks of at least this many points get potentials. Below it SciPy is fast on its own
#: (2-D blocks of 512 points: about 0.06 s, 0.025 s with potentials; 30-D blocks: 0.015 s,
#: 0.05 s with potentials); at 1024 points potentials make 2-D blocks 4 times faster and cost
#: 30-D blocks nothing.
MIN_BLOCK = 1024
#: Epsilons, relative to the spread of the block's cost (the root mean square of
#: :func:`double_centred`), from the
#: first to the last stage, geometrically spaced; each stage runs ``STAGE_ITERATIONS``
#: Sinkhorn iterations from the previous stage's potentials.
FIRST_EPSILON, LAST_EPSILON, STAGES, STAGE_ITERATIONS = 1.0, 1e-3, 10, 5
EPSILONS = np.geomspace(FIRST_EPSILON, LAST_EPSILON, STAGES).astype(np.float32)
#: A cost whose spread (see ``FIRST_EPSILON``) is below this fraction of its largest entry is
#: row and column constants up to rounding: every assignment is optimal, nothing to guide.
FLAT_SPREAD = 1e-12
#: Blocks are padded to a multiple of this many rows and columns (masked), so that a solve
#: compiles the Sinkhorn loop for a few shapes only.
PAD = 128


def double_centred(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cost`` (s, s) less its row means and then its column means, and those column means
    (s,): the part of the cost that decides the assignment, whatever constants the cost form
    adds per row or column (``cost = centred + row term + column means``)."""
    centred = cost - cost.mean(1, keepdims=True)
    column_means = centred.mean(0)
    centred -= column_means[None, :]
    return centred, column_means


@functools.partial(jax.jit, static_argnames="iterations")
def _annealed_sinkhorn(cost, valid, epsilons, *, iterations):
    """Row and column potentials ``(f, g)`` (each (s_pad,)) of entropic OT between uniform
    weights on the ``valid`` (s_pad,) rows and columns of ``cost`` (s_pad, s_pad), by
    ``iterations`` log-domain Sinkhorn iterations at each of ``epsilons`` (stages,), in turn;
    0 on the padding."""
    log_weight = jnp.where(valid, 0.0, -jnp.inf).astype(cost.dtype)
    zeros = jnp.zeros(cost.shape[0], cost.dtype)

    def stage(potentials, eps):
        def step(_, fg):
            f, g = fg
            f = -eps * jax.nn.logsumexp(log_weight[None, :] + (g[None, :] - cost) / eps, axis=1)
            f = jnp.where(valid, f, 0.0)
            g = -eps * jax.nn.logsumexp(log_weight[:, None] + (f[:, None] - cost) / eps, axis=0)
            return f, jnp.where(valid, g, 0.0)

        return jax.lax.fori_loop(0, iterations, step, potentials), None

    return jax.lax.scan(stage, (zeros, zeros), epsilons)[0]


def column_potentials(cost: np.ndarray) -> np.ndarray | None:
    """Near-optimal column potentials ``g`` (s,) float64 for the assignment of ``cost``
    (s, s), centred on their mean; None when the block is below ``MIN_BLOCK`` points or not
    square, its cost is flat (``FLAT_SPREAD``), or the potentials are not finite (SciPy then
    solves ``cost`` itself)."""
    size = cost.shape[0]
    if size < MIN_BLOCK or cost.shape[1] != size:
        return None
    centred, column_means = double_centred(cost)
    spread = float(np.sqrt(np.vdot(centred, centred) / centred.size))
    if not np.isfinite(spread) or spread <= FLAT_SPREAD * np.abs(cost).max():
        return None
    padded = -(-size // PAD) * PAD
    scaled = np.zeros((padded, padded), np.float32)
    scaled[:size, :size] = centred / spread
    del centred
    valid = np.arange(padded) < size
    g = np.asarray(_annealed_sinkhorn(scaled, valid, EPSILONS,
                                      iterations=STAGE_ITERATIONS)[1], np.float64)[:size]
    if not np.all(np.isfinite(g)):
        return None
    g = g * spread + column_means  # the potentials of ``cost`` itself
    return g - g.mean()


def reduced_cost(cost: jax.Array, valid: jax.Array) -> jax.Array:
    """Inside a jitted program: the block's ``cost`` (s, s) on its ``valid`` (s,) rows and
    columns (a padded block shares one mask), double-centred, divided by its spread and less
    near-optimal row and column potentials; the same optimal assignments among the valid rows
    and columns (:func:`hiref.assignment.padded_cost` then places the padding). A flat cost
    stays flat (every assignment is optimal)."""
    pair = valid[:, None] & valid[None, :]
    weight = valid.astype(cost.dtype)
    count = jnp.maximum(weight.sum(), 1)
    centred = jnp.where(pair, cost, 0)
    centred = centred - centred.sum(1, keepdims=True) / count * weight[:, None]
    centred = jnp.where(pair, centred - centred.sum(0, keepdims=True) / count, 0)
    spread = jnp.sqrt(jnp.sum(centred * centred)) / count
    scaled = centred / jnp.where(spread > 0, spread, 1)
    f, g = _annealed_sinkhorn(scaled, valid, jnp.asarray(EPSILONS, cost.dtype),
                              iterations=STAGE_ITERATIONS)
    return scaled - f[:, None] - g[None, :]
