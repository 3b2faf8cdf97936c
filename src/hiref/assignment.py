"""Exact linear assignment of many small blocks at once, in JAX.

The shortest-augmenting-path algorithm of Jonker and Volgenant, in the form SciPy's
``linear_sum_assignment`` uses (Crouse, 2016), written with dense vector operations over the
columns so that ``jax.vmap`` solves thousands of blocks in one computation (the leaf level of
the hierarchy) on CPU or GPU. Each augmentation is a Dijkstra search over reduced costs; the
duals ``u, v`` stay feasible, so the result is an optimal assignment.

Every loop is bounded: at most ``s`` augmentations, each scanning at most ``s`` columns and
flipping at most ``s`` edges, whatever the costs (finite costs never reach the bounds; the
solver checks the final matching is a bijection). All indices are int32, in 64-bit mode too.
On a CPU the solver's host path (SciPy, :mod:`hiref.leaves`) is faster; this one keeps the
leaves on an accelerator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _augment_row(cost: jax.Array, cur_row: jax.Array, state, active: jax.Array):
    """Adds row ``cur_row`` to the partial assignment along a shortest augmenting path.

    ``active=False`` leaves the state unchanged: under ``vmap`` a block that has placed all its
    rows still runs the loop body while other blocks work, and a search from an assigned row
    would never find a free column.
    """
    u, v, col4row, row4col = state
    s = cost.shape[0]
    big = jnp.asarray(jnp.inf, cost.dtype)

    def search_cond(c):
        return (c[-1] < 0) & (c[0] < s)

    def search_step(c):
        scanned, i, min_val, spc, path, in_sr, in_sc, _ = c
        in_sr = in_sr.at[i].set(True)
        reduced = min_val + cost[i] - u[i] - v
        better = (~in_sc) & (reduced < spc)
        path = jnp.where(better, i, path)
        spc = jnp.where(better, reduced, spc)
        key = jnp.where(in_sc, big, spc)
        lowest = key.min()
        candidates = (key == lowest) & ~in_sc
        free = candidates & (row4col < 0)
        # Ties prefer an unassigned column: it ends the search at once. Without a candidate
        # (costs that are not finite) any unscanned column keeps the search moving.
        j = jnp.where(free.any(), jnp.argmax(free),
                      jnp.where(candidates.any(), jnp.argmax(candidates),
                                jnp.argmax(~in_sc))).astype(jnp.int32)
        in_sc = in_sc.at[j].set(True)
        owner = row4col[j]
        sink = jnp.where(owner < 0, j, -1).astype(jnp.int32)
        return scanned + 1, owner, lowest, spc, path, in_sr, in_sc, sink

    init = (
        jnp.zeros((), jnp.int32),
        cur_row,
        jnp.zeros((), cost.dtype),
        jnp.full((s,), big),
        jnp.full((s,), -1, jnp.int32),
        jnp.zeros((s,), bool),
        jnp.zeros((s,), bool),
        jnp.where(active, -1, 0).astype(jnp.int32),
    )
    _, _, min_val, spc, path, in_sr, in_sc, sink = jax.lax.while_loop(
        search_cond, search_step, init)
    # A search cut off by its bound (never with finite costs) changes nothing.
    active = active & (sink >= 0)

    rows = jnp.arange(s, dtype=jnp.int32)
    spc_of_row = spc[jnp.clip(col4row, 0)]
    u = u + jnp.where(rows == cur_row, min_val, 0)
    u = u + jnp.where(in_sr & (rows != cur_row), min_val - spc_of_row, 0)
    v = v - jnp.where(in_sc, min_val - spc, 0)

    u = jnp.where(active, u, state[0])
    v = jnp.where(active, v, state[1])

    def flip_cond(c):
        return ~c[-1] & (c[0] < s)

    def flip_step(c):
        flips, j, col4row, row4col, _ = c
        i = path[j]
        row4col = row4col.at[j].set(i)
        previous = col4row[i]
        col4row = col4row.at[i].set(j)
        return flips + 1, previous, col4row, row4col, i == cur_row

    _, _, col4row, row4col, _ = jax.lax.while_loop(
        flip_cond, flip_step, (jnp.zeros((), jnp.int32), sink, col4row, row4col, ~active)
    )
    return u, v, col4row, row4col


def assign(cost: jax.Array) -> jax.Array:
    """Optimal assignment of one square cost matrix.

    Starts from Jonker and Volgenant's column reduction: ``v_j = min_i cost[i, j]`` and each
    column's cheapest row takes it when that row has no column yet. These duals are feasible
    and tight on the pairs taken, so only the rows left free need an augmenting path; in
    geometric problems that is about a third of them.

    Args:
      cost: (s, s) finite costs.

    Returns:
      (s,) int32 ``col`` with ``col[i]`` the column matched to row ``i``; minimises
      ``sum_i cost[i, col[i]]``.
    """
    s = cost.shape[0]
    cols = jnp.arange(s, dtype=jnp.int32)
    v = cost.min(axis=0)
    cheapest_row = jnp.argmin(cost, axis=0).astype(jnp.int32)
    # A row that is the cheapest for several columns takes the first of them.
    first_col = jnp.full((s,), s, jnp.int32).at[cheapest_row].min(cols)
    col4row = jnp.where(first_col < s, first_col, -1)
    row4col = jnp.where(first_col[cheapest_row] == cols, cheapest_row, -1)
    free_rows = jnp.argsort(col4row >= 0, stable=True).astype(jnp.int32)
    n_free = (col4row < 0).sum(dtype=jnp.int32)

    def cond(carry):
        return carry[0] < n_free

    def body(carry):
        k, state = carry
        return k + 1, _augment_row(cost, free_rows[jnp.minimum(k, s - 1)], state, k < n_free)

    state = (jnp.zeros((s,), cost.dtype), v, col4row, row4col)
    return jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state))[1][2]


def padded_cost(cost: jax.Array, valid: jax.Array) -> jax.Array:
    """A padded block's cost (s, s), ready for :func:`assign`: real pairs shifted and scaled
    into ``[0, 1]`` (any finite costs, negative ones too; an optimal assignment does not
    change under a common shift and scale); padding costs more than any real pair, so padding
    is matched to padding and the real rows get an optimal assignment among themselves.

    Args:
      cost: (s, s) finite costs, arbitrary on padding; valid: (s,) bool, the same count of
        valid rows and columns (row ``i`` and column ``i`` share ``valid[i]``).
    """
    pair = valid[:, None] & valid[None, :]
    low = jnp.where(pair, cost, jnp.inf).min()
    high = jnp.where(pair, cost, -jnp.inf).max()
    span = high - low
    cost = jnp.where(span > 0, (cost - low) / jnp.where(span > 0, span, 1), 0.0)
    return jnp.where(pair, cost, jnp.where(valid[:, None] | valid[None, :], 2.0, 0.0))


assign_batched = jax.jit(jax.vmap(assign))
"""(b, s, s) costs -> (b, s) assignments; one compiled computation for all blocks."""
