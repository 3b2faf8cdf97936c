"""Negative-cycle cancelling: a last pass over the whole matching in low dimension.

Refinement sweeps re-solve groups of matched pairs, so they undo only the parts of a
matching's excess that lie within a group. In 2-D most of what is left after them lies on
long cycles (uniform squares at n = 4096, seed 2: 0.078 % of the optimal cost on one cycle
of more than 1024 pairs, 0.003 % on cycles of at most 64; docs/performance.md): every x
holds a partner slightly off its optimal one, in a coarse circulation that no exchange
within a group can undo.

This pass finds such exchanges whatever their length. Pair ``j`` (``x_j`` matched to
``y_j``) is a node of an exchange graph; an edge ``i -> j`` lets ``x_i`` take ``y_j``, with
weight ``c(x_i, y_j) - c(x_j, y_j)``, for the ``x_i`` whose partners are among the
``NEIGHBOURS`` points of Y nearest ``y_j``. A cycle of the graph is a cyclic exchange (every
``x`` on it takes its successor's partner), and its weight is what that exchange changes
the matching's cost by. Bellman-Ford rounds lower each node's potential ``u_j`` to
``min(u_j, u_i + w_ij)`` over its in-edges. Every ``CHECK_EVERY`` rounds each node takes its
cheapest in-edge where that edge reaches the node's potential (``u_i + w_ij <= u_j``); the
weights around a cycle of such edges sum to at most zero, so every cycle among them is
checked exactly and applied when it lowers the cost. The potentials are kept across applied
cycles, which finds the next cycle far sooner than starting again from zero. The pass ends
after a round that lowers no potential (then ``u_j <= u_i + w_ij`` on every edge, so no
cycle of the graph has negative weight: the matching is optimal among all these exchanges)
or after ``rounds`` rounds. The cost only decreases and the result is always a bijection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

#: Candidate partners of each pair: the points of Y nearest its partner. An optimal partner
#: lies near the current one once the sweeps have run, which nearest points of x itself do
#: not give where the clouds are shifted.
NEIGHBOURS = 8
#: Rounds between two searches for cycles (each search is a strongly connected components
#: pass over the n nodes, about the cost of a few rounds).
CHECK_EVERY = 16
#: Largest number of pairs on which a solve runs the pass. A round costs about
#: ``NEIGHBOURS * n`` operations and the cycles left after the sweeps grow longer with n:
#: 1024 rounds took 0.15 s at 4096 (uniform squares, 0.026 % of the cost gained), 0.30 s at
#: 8192 (0.027 %) and 0.60 s at 16384 (0.037 %; half-moon 0.003 %), three times the rest of
#: that solve; at 2^16, 300 rounds took 2 s and gained 0.0006 %.
MAX_POINTS = 8192
#: The point dimension in which a solve runs the pass. In 2-D the sweeps leave long cycles;
#: in 1-D half-space levels sort both clouds, which is optimal (the pass spent 1020 rounds,
#: 0.21 s at 8192 points, certifying it); in 30-D and 64-D (shared clusters, digits) it
#: found no negative cycle after the sweeps.
DIMENSION = 2
#: Changes of cost within this share of the matching's mean pair cost count as none: a
#: potential lowered by less is not lowered, a cycle that gains less is not applied. The
#: Euclidean cost has many matchings of equal cost (in 1-D every monotone one), between
#: which rounding alone would make cycles look negative and keep the pass busy.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class CancelStats:
    """What a pass did: ``rounds`` Bellman-Ford rounds, ``cycles`` exchanges applied,
    ``optimal`` True when it ended on a round that lowered no potential (no negative cycle
    left in the graph)."""

    rounds: int
    cycles: int
    optimal: bool


def pair_costs(x: np.ndarray, y: np.ndarray, p: int) -> np.ndarray:
    """``|x_k - y_k|^p`` (...,) of points (..., d) in float64, ``p`` 1 or 2."""
    diff = x - y
    squared = np.einsum("...d,...d->...", diff, diff)
    return squared if p == 2 else np.sqrt(squared)


def cancel(x: np.ndarray, y: np.ndarray, p: int, rounds: int
           ) -> tuple[np.ndarray, CancelStats]:
    """Lowers the cost of the matching ``x[j] -> y[j]`` by cancelling negative cycles.

    Args:
      x, y: (n, d) float64 matched points, row ``j`` of each a pair; p: the cost
        ``|x - y|^p`` (1 or 2); rounds: at most this many Bellman-Ford rounds (0: none).
    Returns:
      ``(partner, stats)``: ``partner`` (n,) int64 a permutation, ``x[j]`` now matched to
      ``y[partner[j]]``, and the pass's :class:`CancelStats`.
    """
    n = len(x)
    partner = np.arange(n)
    k = min(NEIGHBOURS, n - 1)
    if rounds <= 0 or k < 1:
        return partner, CancelStats(0, 0, False)
    near = cKDTree(y).query(y, k + 1)[1][:, 1:].T  # (k, n): the other points nearest each y
    slack = TOLERANCE * pair_costs(x, y, p).mean()
    holder = np.arange(n)  # holder[partner[j]] = j
    potential = np.zeros(n)
    nodes = np.arange(n)
    done = cycles = 0
    while done < rounds:
        # Edges into node j, from the holders of the points of Y nearest j's partner.
        source = holder[near[:, partner]]  # (k, n)
        weight = (pair_costs(x[source], y[partner][None], p)
                  - pair_costs(x, y[partner], p)[None])
        found = []
        while done < rounds and not found:
            reached = potential.take(source)
            reached += weight
            lowest = reached.min(axis=0)
            lower = lowest < potential - slack
            done += 1
            if not lower.any():
                return partner, CancelStats(done, cycles, True)
            np.copyto(potential, lowest, where=lower)
            if done % CHECK_EVERY == 0:
                # Each node's lowest in-edge, where it reaches the node's potential: around
                # a cycle of such edges the weights sum to at most zero.
                reached = potential.take(source)
                reached += weight
                best = reached.argmin(axis=0)
                tight = reached[best, nodes] <= potential
                found = parent_cycles(np.where(tight, source[best, nodes], -1))
        for cycle in found:
            # cycle[m + 1] is the parent of cycle[m]: x of cycle[m + 1] takes cycle[m]'s partner.
            takers = np.roll(cycle, -1)
            change = (pair_costs(x[takers], y[partner[cycle]], p).sum()
                      - pair_costs(x[takers], y[partner[takers]], p).sum())
            if change < -slack:
                partner[takers] = partner[cycle]
                holder[partner[takers]] = takers
                cycles += 1
    return partner, CancelStats(done, cycles, False)


def parent_cycles(parent: np.ndarray) -> list[np.ndarray]:
    """The cycles of the graph of edges ``j -> parent[j]`` (``parent`` (n,); ``-1``: none),
    each as its nodes in the order ``v, parent[v], parent[parent[v]], ...``. Every node has at
    most one parent, so each strongly connected component of more than one node is one
    cycle."""
    n = len(parent)
    rows = np.flatnonzero(parent >= 0)
    graph = csr_matrix((np.ones(len(rows)), (rows, parent[rows])), shape=(n, n))
    count, label = connected_components(graph, directed=True, connection="strong")
    on_cycle = np.bincount(label, minlength=count)[label] > 1
    out, seen = [], np.zeros(count, bool)
    for start in np.flatnonzero(on_cycle):
        if seen[label[start]]:
            continue
        seen[label[start]] = True
        cycle, node = [start], parent[start]
        while node != start:
            cycle.append(node)
            node = parent[node]
        out.append(np.array(cycle))
    return out
