"""Negative-cycle cancelling (hiref.cycles): a bijection, never costlier, and when it reports
``optimal`` no exchange of its graph can lower the cost."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import NegativeCycleError, johnson
from scipy.spatial import cKDTree

import hiref
from hiref import cycles


def squares(n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 2)), 0.3 + 0.8 * rng.uniform(size=(n, 2))


def exact_partner(x, y, p):
    cost = cycles.pair_costs(x[:, None, :], y[None, :, :], p)
    return linear_sum_assignment(cost)[1]


def rotated_chain(y, partner, length, seed):
    """``partner`` with the partners of a chain of up to ``length`` pairs shifted one place
    along it: a long cycle of small moves, as the sweeps leave in 2-D. Each pair's partner is
    the nearest unvisited of the ``NEIGHBOURS`` points of Y nearest the previous pair's, so
    that undoing the shift is a cycle of the pass's exchange graph."""
    near = cKDTree(y).query(y, cycles.NEIGHBOURS + 1)[1][:, 1:]
    holder = np.argsort(partner)
    chain = [int(np.random.default_rng(seed).integers(len(y)))]
    while len(chain) < length:
        free = [holder[v] for v in near[partner[chain[-1]]] if holder[v] not in chain]
        if not free:
            break
        chain.append(int(free[0]))
    out = partner.copy()
    out[chain] = partner[np.roll(chain, 1)]
    return out, len(chain)


def exchange_graph(x, y, p):
    """The pass's exchange graph of the matching ``x[j] -> y[j]`` as a sparse matrix, entry
    (i, j) the weight of x_i taking y_j (shifted by a tiny constant so that no weight is an
    implicit zero of the sparse format)."""
    n = len(x)
    near = cKDTree(y).query(y, cycles.NEIGHBOURS + 1)[1][:, 1:]
    rows = near.ravel()
    cols = np.repeat(np.arange(n), cycles.NEIGHBOURS)
    weight = cycles.pair_costs(x[rows], y[cols], p) - cycles.pair_costs(x[cols], y[cols], p)
    return csr_matrix((weight + 1e-300, (rows, cols)), shape=(n, n))


@pytest.mark.parametrize("p", [1, 2])
def test_a_long_rotated_chain_is_undone(p):
    x, y = squares(300, 0)
    best = exact_partner(x, y, p)
    start, length = rotated_chain(y, best, 60, seed=3)
    assert length == 60
    partner, stats = cycles.cancel(x, y[start], p, rounds=2000)
    assert np.array_equal(np.sort(partner), np.arange(300))
    optimum = cycles.pair_costs(x, y[best], p).sum()
    before = cycles.pair_costs(x, y[start], p).sum() / optimum - 1
    after = cycles.pair_costs(x, y[start][partner], p).sum() / optimum - 1
    # The excess (0.3-0.7 %) falls below a tenth; the exchanges are cancelled as they are
    # found, so the pass may end at another matching without negative cycles of its graph.
    assert before > 3e-3 and -1e-12 <= after <= before / 10
    assert stats.optimal and stats.cycles >= 1 and stats.rounds < 2000


def test_a_short_rotated_chain_is_undone_exactly():
    x, y = squares(300, 0)
    best = exact_partner(x, y, 2)
    start, length = rotated_chain(y, best, 60, seed=0)
    assert length == 14  # the chain runs out of free neighbours
    partner, stats = cycles.cancel(x, y[start], 2, rounds=2000)
    assert np.array_equal(start[partner], best) and stats.optimal


@pytest.mark.parametrize("p", [1, 2])
def test_an_optimal_result_leaves_no_negative_cycle(p):
    x, y = squares(400, 3)
    start = np.random.default_rng(4).permutation(400)  # far from optimal
    partner, stats = cycles.cancel(x, y[start], p, rounds=100_000)
    assert stats.optimal
    before = cycles.pair_costs(x, y[start], p).sum()
    assert cycles.pair_costs(x, y[start][partner], p).sum() < before
    johnson(exchange_graph(x, y[start][partner], p))  # raises on a negative cycle
    with pytest.raises(NegativeCycleError):
        johnson(exchange_graph(x, y[start], p))


def test_rounds_bound_the_pass_and_zero_changes_nothing():
    x, y = squares(300, 5)
    start = rotated_chain(y, exact_partner(x, y, 2), 80, seed=6)[0]
    untouched, none = cycles.cancel(x, y[start], 2, rounds=0)
    assert np.array_equal(untouched, np.arange(300)) and none == cycles.CancelStats(0, 0, False)
    partner, stats = cycles.cancel(x, y[start], 2, rounds=cycles.CHECK_EVERY)
    assert stats.rounds == cycles.CHECK_EVERY and not stats.optimal
    assert cycles.pair_costs(x, y[start][partner], 2).sum() <= \
        cycles.pair_costs(x, y[start], 2).sum()


@pytest.mark.parametrize("n", [1, 2, 3, 9])
def test_tiny_and_repeated_clouds(n):
    x = np.zeros((n, 2))
    y = np.repeat([[1.0, 1.0]], n, axis=0)  # every partner the same point
    partner, stats = cycles.cancel(x, y, 2, rounds=64)
    assert np.array_equal(np.sort(partner), np.arange(n))
    assert stats.cycles == 0


def test_the_solver_ends_with_the_pass_in_two_dimensions_only():
    x, y = (a.astype(np.float32) for a in squares(1024, 7))
    seen = []
    out = hiref.solve(x, y, progress=seen.append)
    last = seen[-1]
    assert last["level"] == "cycles" and last["rounds"] >= 1
    assert last["cost"] == pytest.approx(out.cost_p2, rel=1e-6)
    refined = next(info["cost"] for info in reversed(seen) if str(info["level"]).startswith("ref"))
    assert last["cost"] <= refined
    off = hiref.solve(x, y, config=hiref.HiRefConfig(cycle_rounds=0))
    assert off.extra["levels"][-1]["level"] != "cycles"
    assert out.cost_p2 <= off.cost_p2
    for dim in (1, 3):
        other = np.random.default_rng(8).normal(size=(512, dim)).astype(np.float32)
        out = hiref.solve(other, other[::-1] + 1)
        assert all(info["level"] != "cycles" for info in out.extra["levels"])


def test_parent_cycles_are_the_cycles_of_a_graph_of_one_edge_per_node():
    parent = np.array([1, 2, 0, 4, 3, -1, 5, 6, 7])  # 8 -> 7 -> 6 -> 5: a path, no cycle
    found = cycles.parent_cycles(parent)
    assert sorted(c.tolist() for c in found) == [[0, 1, 2], [3, 4]]
    assert all(parent[c[m]] == c[(m + 1) % len(c)] for c in found for m in range(len(c)))
    assert cycles.parent_cycles(np.full(4, -1)) == []


def test_ties_of_the_euclidean_cost_are_not_exchanged():
    # Every monotone matching of a 1-D pair has the same Euclidean cost; rounding must not
    # make the pass exchange among them.
    rng = np.random.default_rng(9)
    x, y = np.sort(rng.normal(size=(500, 1)), 0), np.sort(rng.normal(size=(500, 1)), 0) + 3
    partner, stats = cycles.cancel(x, y, 1, rounds=4096)
    assert stats.cycles == 0 and np.array_equal(partner, np.arange(500))
