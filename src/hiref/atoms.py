"""Clouds made of few distinct points (many ties, e.g. a small integer grid), solved exactly.

When each cloud holds few distinct points (atoms), each many times, the optimal matching
moves whole shares of atoms between atoms at the scale of the cloud itself. The hierarchy
cannot find it: its splits cut atoms arbitrarily, and its refinement groups hold nearby pairs,
never the distant pairs (``a -> b`` and ``b -> a``) whose exchange would repair a split (on a
3 x 3 grid, n = 300, 1.04-1.24 x exact, with or without jitter breaking the ties). The same
problem on the atoms is small: transport between ``u_x`` and ``u_y`` weighted points, which
the network simplex (POT's ``ot.emd``) solves exactly, and any matching that realises its
integer flows is an optimal matching of the points.

:func:`find` decides, cheaply for clouds that are not of this kind, whether a problem is;
:func:`match` solves it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hiref import costs

#: Largest ``u_x * u_y`` (variables of the transport between atoms) solved here: the
#: network simplex takes about 0.4 s at 1024 x 1024 atoms on the project's 2-core CPU (its
#: cost matrix 8 MiB).
MAX_ATOM_PAIRS = 1 << 20
#: Rows of each cloud (evenly spaced) whose distinct count rules out most problems without
#: finding the atoms of the whole clouds.
PROBE_ROWS = 2048
#: Network simplex iterations allowed: far more than a problem of ``MAX_ATOM_PAIRS`` needs.
EMD_ITERATIONS = 100 * MAX_ATOM_PAIRS


class Atoms(NamedTuple):
    """A cloud's distinct points ``points`` (u, d), the atom of each point ``labels`` (n,)
    and each atom's ``counts`` (u,)."""

    points: np.ndarray
    labels: np.ndarray
    counts: np.ndarray


def _distinct_lower_bound(a: np.ndarray) -> int:
    """A lower bound of the number of distinct rows of ``a`` (n, d), from at most about
    ``2 * PROBE_ROWS`` evenly spaced rows projected on a fixed direction (equal rows project
    equally, so distinct projections are distinct rows); ``O(PROBE_ROWS * d)`` work, in
    chunks of ``hiref.costs.HOST_CHUNK`` entries."""
    sample = a[:: max(1, len(a) // PROBE_ROWS)]
    direction = np.random.default_rng(0).standard_normal(a.shape[1])
    # Read in float64 a chunk of rows at a time, so the probe holds no copy of many points.
    projected = [np.asarray(sample[begin:end], np.float64) @ direction
                 for begin, end in costs.row_chunks(*sample.shape)]
    return len(np.unique(np.concatenate(projected)))


def find(x: np.ndarray, y: np.ndarray) -> tuple[Atoms, Atoms] | None:
    """The atoms of ``x`` (n, d) and ``y`` (m, d) when the problem is one of few atoms: at
    most ``MAX_ATOM_PAIRS`` atom pairs and at least two points per atom on average
    (``u_x + u_y <= (n + m) / 2``); else None. Clouds of (nearly) distinct points are ruled
    out from a sample, without sorting the whole clouds."""
    n, m = len(x), len(y)
    low_x, low_y = _distinct_lower_bound(x), _distinct_lower_bound(y)
    whole = n <= PROBE_ROWS and m <= PROBE_ROWS
    if low_x * low_y > MAX_ATOM_PAIRS or (whole and 2 * (low_x + low_y) > n + m):
        return None
    found = []
    for a in (x, y):
        points, labels, counts = np.unique(a, axis=0, return_inverse=True, return_counts=True)
        found.append(Atoms(points, labels.ravel(), counts))
    ax, ay = found
    u_x, u_y = len(ax.points), len(ay.points)
    if u_x * u_y > MAX_ATOM_PAIRS or 2 * (u_x + u_y) > n + m:
        return None
    return ax, ay


def match(ax: Atoms, ay: Atoms, rep_x: int, rep_y: int, cost: str
          ) -> tuple[np.ndarray, np.ndarray]:
    """An optimal bijection between ``x`` repeated ``rep_x`` times and ``y`` repeated
    ``rep_y`` times (``L`` units each; unit ``u`` of x is point ``u // rep_x``), as in
    ``hiref.solve``: ``(order_x, order_y)`` (L,), unit ``order_x[t]`` matched to unit
    ``order_y[t]``.

    The atoms' masses are their counts times the repetition, the cost between atoms is
    computed from coordinate differences of the atoms shifted and scaled together in
    float64 (no cancellation, no overflow), and the network simplex's flows (integers: a
    vertex of a transport problem with integer masses) are laid out as pairs of units.
    """
    import ot  # POT: imported here, only problems of few atoms pay for it

    points = [np.asarray(a.points, np.float64) for a in (ax, ay)]
    mass_x = (ax.counts * rep_x).astype(np.float64)
    mass_y = (ay.counts * rep_y).astype(np.float64)
    # The joint mean and the largest coordinate first, the root-mean-square radius from them,
    # as hiref.costs.normalise does for the points of the hierarchy.
    centre = (mass_x @ points[0] + mass_y @ points[1]) / (mass_x.sum() + mass_y.sum())
    spread = max(float(np.abs(p - centre).max()) for p in points) or 1.0
    unit_x, unit_y = ((p - centre) / spread for p in points)
    if cost == "sqeuclidean":
        square = (mass_x @ np.einsum("ij,ij->i", unit_x, unit_x)
                  + mass_y @ np.einsum("ij,ij->i", unit_y, unit_y))
        costs.check_sqeuclidean_range(spread * float(np.sqrt(square / (2 * mass_x.sum()))))
    cost_matrix = costs.difference_costs(unit_x, unit_y, cost)
    flow, log = ot.emd(mass_x, mass_y, cost_matrix, numItermax=EMD_ITERATIONS, log=True)
    if log["warning"] is not None:
        raise RuntimeError(f"hiref internal error: the atoms' transport did not converge "
                           f"({log['warning']}). Please report it with the input.")
    flow = np.rint(flow).astype(np.int64)
    from_atom, to_atom = np.nonzero(flow)
    pairs = flow[from_atom, to_atom]
    # One entry per matched pair of units, in the order of their x atoms; the k-th entry of
    # an atom takes the k-th unit of that atom on each side.
    # (np.nonzero lists the flows by x atom, so entry t takes the t-th x unit in atom order.)
    entry_y = np.repeat(to_atom, pairs)
    order_x = np.argsort(np.repeat(ax.labels, rep_x), kind="stable")
    order_y = np.empty_like(order_x)
    order_y[np.argsort(entry_y, kind="stable")] = np.argsort(np.repeat(ay.labels, rep_y),
                                                             kind="stable")
    return order_x, order_y
