"""Refinement groups: matched pairs regrouped, on the host, by halvings along random axes of
large spread (or by a rotated grid in 2-D).

After the leaves, ``x_i`` is matched to ``y_perm(i)``. A refinement sweep groups the pairs
into ``2**halvings`` groups of equal size (up to one pair) by halving every group at the
median of an axis, then re-solves each group exactly: a sweep can only lower the matching's
cost. Each group's axis is one power-iteration step from a random Gaussian direction (the
direction multiplied by the group's scatter matrix): it leans towards the directions of large
spread, so the halves stay groups of close points, yet it differs from sweep to sweep, so each
sweep cuts elsewhere and its groups straddle the borders of the groups before
(:data:`AXIS_POWER_STEPS`).

Groups hold up to twice the leaf's points after low-rank levels (:func:`group_limit`). A
pair is grouped by its sum ``x_i + y_perm(i)`` (twice its midpoint), not by the ``2d``
coordinates of both points. For the squared Euclidean cost, exchanging the partners of pairs
``i`` and ``j`` lowers the cost by ``-2 (x_i - x_j) . (y_perm(i) - y_perm(j))``: it gains
most where the two displacements point in opposite directions, which is where the sums are
close although the pairs themselves may be far apart. Pairs near each other in both points
also have close sums, so the groups still hold the local exchanges; they now also hold the
exchanges between distant pairs that cross each other (``a -> b`` beside ``b -> a``), which a
grouping by both points never puts together. Measured with groups of one leaf (seeds 0-1,
mean × exact, against grouping by both points): 64-D digits 1.0165 against 1.0211, 32-D
Gaussian mixtures (n = 4096) 1.0131 against 1.0144, 2-D pairs the same on average
(docs/performance.md).

Sums of at most ``GRID_MAX_DIM`` dimensions (2-D clouds) are grouped by a grid instead
(:func:`grid`): the pairs sorted along a random direction into equal strips, each strip
sorted along the perpendicular into equal cells. Two sorts replace ``halvings`` rounds of
halving and give groups as compact, turned by another angle every sweep.

Sums of more than ``PROJECTED_DIM`` dimensions are grouped by the same halving of their
random Gaussian projection to ``PROJECTED_DIM`` dimensions (:func:`pair_points`), drawn
anew each sweep: the projection keeps distances and the directions of large spread up to a
small distortion (Johnson-Lindenstrauss), so the groups stay groups of close sums, and the
halving reads ``PROJECTED_DIM`` numbers per pair instead of ``d``. Only the grouping
changes; whatever the grouping, a sweep re-solves every group exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hiref import costs, halfspace, host

#: Power-iteration steps from a random start that give a halving's axis. With six, every
#: sweep found nearly the same principal axes, hence nearly the same groups, and repaired
#: little that the sweeps before had not; one step keeps the axis leaning towards large
#: spread but random, and each sweep then repairs more (x exact after six sweeps, seeds 0 / 1:
#: 30-D shared clusters at n = 4096 1.018 / 1.017 with six steps, 1.009 / 1.013 with one;
#: 64-D digits 1.0136 -> 1.0064 on seed 0; 2-D pairs at 4096 unchanged on average). No step
#: (a purely random axis) groups distant pairs and repairs less than either (30-D: 1.026 /
#: 1.031). docs/performance.md, "Refinement: one power-iteration step, ten sweeps, a grid in
#: 2-D".
AXIS_POWER_STEPS = 1
#: Refinement groups hold ``GROUP_FACTOR[split]`` times the leaf's points, but a group
#: widened so holds at most ``WIDENED_GROUP_MAX`` (and never fewer than a leaf). Low-rank
#: leaves start several percent above exact in high dimension, and groups of twice their
#: size repair more per sweep for little more time (n = 4096, seeds 0-1, x exact: 30-D
#: clusters 1.028 / 1.029 -> 1.018 / 1.016, 64-D digits 1.018 / 1.015 -> 1.014 / 1.007,
#: 32-D mixtures 1.011 / 1.016 -> 1.009 / 1.013, in 1.1-1.3 times the time; at 2^16 in 30-D
#: and in 2048-D no more time per sweep than the leaf's groups; docs/performance.md).
#: Half-space leaves are near-optimal locally, and wider groups would cost the 2-D solves
#: more than they gain.
GROUP_FACTOR = {"halfspace": 1, "lowrank": 2}
WIDENED_GROUP_MAX = 512
#: Pairs of more dimensions than this are grouped on a random projection to this many.
PROJECTED_DIM = 64
#: Sums of at most this many dimensions are grouped by a rotated grid (:func:`grid`): two
#: sorts instead of ``halvings`` rounds of halving (2-D, n = 2^16 in 1024 groups: 17 ms
#: against 105 ms; 2^20 in 16384 groups: 0.6 s against 2.9 s), with the same matchings on
#: average (n = 4096, seeds 0-3, x exact: half-moon 1.00099 against 1.00100, uniform squares
#: 1.00051 against 1.00054, checkerboard 1.00216 against 1.00213).
GRID_MAX_DIM = 2
#: A sweep of at least ``PROBE_MIN_GROUPS`` groups first re-solves a random
#: ``1 / PROBE_SHARE`` of them (its probe): their gain, per pair, estimates the whole sweep's,
#: so the sweep that ends refinement (it gains less than ``refine_tol``) mostly stops after its
#: probe. Every sweep but the last solves all its groups, as without a probe. Fewer groups
#: would make the estimate noisy (at n = 2^16 in 2-D the 128-group probe of 1024 groups holds
#: 8192 pairs).
PROBE_SHARE = 8
PROBE_MIN_GROUPS = 128


def group_limit(leaf: int, split: str) -> int:
    """The largest refinement group of a solve with leaves of at most ``leaf`` points whose
    levels take ``split`` (see :data:`GROUP_FACTOR`)."""
    return max(leaf, min(GROUP_FACTOR[split] * leaf, WIDENED_GROUP_MAX))


def halvings_for(n: int, max_group: int) -> int:
    """Halvings that bring ``n`` pairs to groups of at most ``max_group``."""
    return max(0, int(np.ceil(np.log2(n / max_group)))) if n > max_group else 0


def probe_groups(groups: int, refine_tol: float) -> int:
    """Groups a sweep of ``groups`` groups re-solves first, as its probe (0: none; never with
    ``refine_tol`` 0, whose sweeps all run whole)."""
    return groups // PROBE_SHARE if groups >= PROBE_MIN_GROUPS and refine_tol > 0 else 0


def probe_first(order: np.ndarray, sizes: np.ndarray, probe: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Moves ``probe`` groups drawn from ``rng`` to the front: ``(order, sizes)`` (n,) and
    (b,) as from :func:`halve`, groups still contiguous, the probe's ``sizes[:probe]``.
    Draws nothing when ``probe`` is 0."""
    if not probe:
        return order, sizes
    groups = rng.permutation(len(sizes))
    groups = np.concatenate([np.sort(groups[:probe]), np.sort(groups[probe:])])
    idx, valid = halfspace.segments(sizes)
    return order[idx[groups][valid[groups]]], sizes[groups]


def pair_points(take: Callable[[int, np.ndarray], np.ndarray], order_x: np.ndarray,
                order_y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The matched pairs ``(x[order_x[t]], y[order_y[t]])`` as points to group (n, D): their
    sums ``x + y`` (``D = d``) up to ``PROJECTED_DIM`` dimensions, else the sums' projection
    on ``PROJECTED_DIM`` Gaussian directions drawn from ``rng``; computed a chunk of pairs at
    a time. ``take(side, rows)`` reads the points of x (``side`` 0) or y (1)."""
    first = take(0, order_x[:1])
    d = first.shape[1]
    directions = (rng.standard_normal((d, PROJECTED_DIM)).astype(first.dtype)
                  if d > PROJECTED_DIM else None)
    out = np.empty((len(order_x), min(d, PROJECTED_DIM)), first.dtype)
    for begin, end in costs.row_chunks(len(order_x), d):
        sums = take(0, order_x[begin:end]) + take(1, order_y[begin:end])
        out[begin:end] = sums if directions is None else sums @ directions
    return out


def group_pairs(points: np.ndarray, halvings: int, rng: np.random.Generator,
                pool: host.Pool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A sweep's groups of the pairs ``points`` (n, D) from :func:`pair_points`: ``(order,
    sizes)`` as from :func:`halve` (``2**halvings`` groups of sizes equal up to one, the
    sizes of that many halvings), by :func:`grid` up to ``GRID_MAX_DIM`` dimensions, else
    by :func:`halve` in the threads of ``pool``."""
    if points.shape[1] <= GRID_MAX_DIM:
        return grid(points, halvings, rng)
    return halve(points, halvings, rng, pool)


def grid(points: np.ndarray, halvings: int, rng: np.random.Generator
         ) -> tuple[np.ndarray, np.ndarray]:
    """Groups the rows of ``points`` (n, D), D of 1 or 2, into ``2**halvings`` cells of a grid
    turned by a random angle: sorted along a random direction ``u`` into ``2**ceil(h / 2)``
    strips, each strip sorted along the perpendicular of ``u`` into ``2**floor(h / 2)`` cells
    (in 1-D, sorted into ``2**h`` runs). Strips and cells take the sizes of halvings
    (``ceil(s / 2)`` then ``floor(s / 2)``, repeatedly), so the ``(order, sizes)`` returned
    are those of :func:`halve` with other groups: the (n,) int64 order in which the cells are
    contiguous and their (2**halvings,) sizes."""
    n, dim = points.shape
    # Halving the strips further gives, in order, the sizes of halving the whole.
    sizes = halfspace.level_sizes(n, halvings)
    if dim == 1:
        return np.argsort(points[:, 0], kind="stable"), sizes[-1]
    angle = rng.uniform(0.0, np.pi)
    u = np.array([np.cos(angle), np.sin(angle)], points.dtype)
    strips = sizes[(halvings + 1) // 2]
    order = np.argsort(points @ u, kind="stable")
    if len(strips) < len(sizes[-1]):
        along = (points @ np.array([-u[1], u[0]], points.dtype))[order]
        order = order[np.lexsort((along, np.repeat(np.arange(len(strips)), strips)))]
    return order, sizes[-1]


def halve(points: np.ndarray, halvings: int, rng: np.random.Generator,
          pool: host.Pool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Groups the rows of ``points`` (n, D) by ``halvings`` rounds of halving.

    Every group of ``s`` points splits into its ``ceil(s / 2)`` points lowest along the
    group's axis (:data:`AXIS_POWER_STEPS`) and the rest. The groups of a round are halved in
    the threads of ``pool`` (None: in this thread), a contiguous range of groups each; the
    groups do not depend on the threads.

    Returns:
      ``(order, sizes)``: the (n,) int64 order in which the groups are contiguous, and their
      (2**halvings,) sizes, equal up to one.
    """
    pool = pool or host.Pool()
    order = np.arange(points.shape[0])
    sizes = np.array([points.shape[0]])
    for _ in range(halvings):
        idx, valid = halfspace.segments(sizes)
        starts = rng.standard_normal((len(sizes), points.shape[1])).astype(points.dtype)
        ranges = [r for r in np.array_split(np.arange(len(sizes)), pool.threads) if len(r)]
        moved = list(pool.map(_axis_halves, (points[order[idx[r]]] for r in ranges),
                              (valid[r] for r in ranges), (sizes[r] for r in ranges),
                              (starts[r] for r in ranges)))
        halfspace.regroup(order, idx, valid, np.concatenate(moved))
        sizes = halfspace.halved_sizes(sizes)
    return order, sizes


def _axis_halves(block: np.ndarray, valid: np.ndarray, sizes: np.ndarray,
                 direction: np.ndarray) -> np.ndarray:
    """The column order (b, w) that puts first the ``ceil(s / 2)`` points of each group
    ``block`` (b, w, D) (``valid`` (b, w), ``sizes`` (b,)) lowest along its axis:
    ``AXIS_POWER_STEPS`` power-iteration steps from ``direction`` (b, D)."""
    weights = valid[:, :, None].astype(block.dtype)
    block = (block - (block * weights).sum(1, keepdims=True) / sizes[:, None, None]) * weights
    # A power-iteration step multiplies by the scatter matrix B^T B, as B^T (B v).
    for _ in range(AXIS_POWER_STEPS):
        direction = np.einsum("bsd,bs->bd", block, np.einsum("bsd,bd->bs", block, direction))
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True),
                                costs.DIVISOR_FLOOR)
    position = np.where(valid, np.einsum("bsd,bd->bs", block, direction), np.inf)
    return halfspace.lowest_first(position, sizes, (sizes - sizes // 2,))
