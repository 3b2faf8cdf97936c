"""Column potentials before SciPy's exact assignment of large blocks: the assignment stays
optimal whatever the block (geometric, high-dimensional, tied, far-apart clusters, sizes off
the padding), and a solve is the same with and without them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import hiref
from hiref import costs, leaf_potentials, leaves

SIZE = leaf_potentials.MIN_BLOCK


def blocks():
    """(name, x, y) blocks of at least ``MIN_BLOCK`` points that SciPy finds hard or odd."""
    rng = np.random.default_rng(0)
    n = SIZE + 7  # not a multiple of the padding
    t = rng.uniform(0, np.pi, n)
    moon = np.c_[np.cos(t), np.sin(t)] + 0.02 * rng.normal(size=(n, 2))
    curve = np.c_[np.sin(2 * t), t / 2] + 0.02 * rng.normal(size=(n, 2))
    grid = rng.integers(0, 3, size=(n, 2)).astype(float)  # nine atoms, ties everywhere
    return [
        ("shifted uniform squares", rng.uniform(size=(n, 2)), rng.uniform(size=(n, 2)) + 0.5),
        ("moon to curve", moon, curve),
        ("30-D Gaussians", rng.normal(size=(n, 30)), rng.normal(size=(n, 30)) + 0.3),
        ("ties on a 3 x 3 grid", grid, rng.permutation(grid)),
    ]


def optimum(x, y):
    cost = costs.difference_costs(x, y, "sqeuclidean")
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].sum(), cost


@pytest.mark.parametrize("name, x, y", blocks(), ids=[b[0] for b in blocks()])
def test_assignment_with_potentials_is_optimal(name, x, y):
    best, cost = optimum(x, y)
    block = costs.assignment_costs(x[None], y[None], "sqeuclidean")[0]
    potentials = leaf_potentials.column_potentials(block)
    if name.startswith("ties"):
        assert potentials is None or np.all(np.isfinite(potentials))
    else:
        assert potentials is not None and potentials.shape == (len(x),)
        assert abs(potentials.mean()) <= 1e-9 * np.abs(potentials).max()
    cols, shifted = leaves.assign(block)
    assert sorted(cols) == list(range(len(x)))
    assert cost[np.arange(len(x)), cols].sum() <= best * (1 + 1e-12) + 1e-12
    assert (shifted > 0) == (potentials is not None)


def test_small_constant_or_rectangular_blocks_get_no_potentials():
    rng = np.random.default_rng(1)
    assert leaf_potentials.column_potentials(rng.normal(size=(SIZE - 1, SIZE - 1))) is None
    assert leaf_potentials.column_potentials(np.full((SIZE, SIZE), 3.0)) is None
    assert leaf_potentials.column_potentials(rng.normal(size=(SIZE, SIZE + 1))) is None
    # Row and column constants only: every assignment costs the same, nothing to guide.
    sums = rng.normal(size=(SIZE, 1)) + rng.normal(size=(1, SIZE))
    assert leaf_potentials.column_potentials(sums) is None


def test_far_apart_clusters_in_a_large_block_are_solved_exactly():
    """Half of both clouds sits 1e9 away: the fast form cancels, and the potentials' own
    rounding is counted in the check that sends the block to the exact costs."""
    rng = np.random.default_rng(2)
    n = SIZE
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    x[: n // 2] += 1e9
    y[: n // 2] += 1e9
    best, cost = optimum(x, y)
    norm = costs.normalise(x, y, "sqeuclidean", None)
    order = leaves.solve_host(norm, np.arange(n), np.arange(n), np.array([n]),
                              cost="sqeuclidean", threads=1)
    assert cost[np.arange(n), order].sum() <= best * (1 + 1e-9)


def test_a_solve_is_the_same_with_and_without_potentials(monkeypatch):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(size=(2 * SIZE, 2)), rng.uniform(size=(2 * SIZE, 2)) + 0.3
    config = hiref.HiRefConfig(max_leaf=SIZE, leaf_solver="scipy")
    with_potentials = hiref.solve(x, y, config=config)
    monkeypatch.setattr(leaf_potentials, "MIN_BLOCK", 10**9)
    without = hiref.solve(x, y, config=config)
    np.testing.assert_array_equal(with_potentials.perm, without.perm)


def test_row_and_column_constants_do_not_change_the_potentials_but_by_their_own_columns():
    """Constants per row or column change no assignment's rank: the potentials follow the
    column constants exactly and ignore the row ones (float32 work, relative to the spread)."""
    rng = np.random.default_rng(4)
    x, y = rng.uniform(size=(SIZE, 2)), rng.uniform(size=(SIZE, 2)) + 0.5
    block = costs.assignment_costs(x[None], y[None], "sqeuclidean")[0]
    rows, columns = 1e4 * rng.normal(size=(SIZE, 1)), 1e4 * rng.normal(size=SIZE)
    plain = leaf_potentials.column_potentials(block)
    moved = leaf_potentials.column_potentials(block + rows + columns[None, :])
    np.testing.assert_allclose(moved, plain + columns - columns.mean(), rtol=0,
                               atol=1e-6 * np.ptp(block))


def test_device_leaves_of_a_large_padded_width_stay_optimal():
    """The device path (batched JAX solver, float32) subtracts row and column potentials for
    blocks of ``MIN_BLOCK`` points or more: two leaves of 1051 and 1050 points (one padded)
    match as well as SciPy's float64 leaves, to float32's resolution."""
    rng = np.random.default_rng(5)
    n = 2 * SIZE + 53
    t = rng.uniform(0, np.pi, n)
    x = np.c_[np.cos(t), np.sin(t)] + 0.02 * rng.normal(size=(n, 2))
    y = np.c_[np.sin(2 * t), t / 2] + 0.02 * rng.normal(size=(n, 2))
    config = hiref.HiRefConfig(max_leaf=SIZE + 27, refine_sweeps=0)
    host = hiref.solve(x, y, config=config.replace(leaf_solver="scipy"))
    device = hiref.solve(x, y, config=config.replace(leaf_solver="jax"))
    assert device.extra["leaf_solver"] == "jax" and device.schedule == host.schedule == [2, SIZE + 27]
    assert sorted(device.perm) == list(range(n))
    assert device.cost_p2 <= host.cost_p2 * (1 + 1e-5)


def test_reduced_cost_keeps_the_assignment_and_flat_blocks_flat():
    import jax.numpy as jnp

    rng = np.random.default_rng(6)
    size, width = SIZE + 3, SIZE + 16
    x, y = rng.uniform(size=(width, 2)), rng.uniform(size=(width, 2)) + 0.5
    block = costs.difference_costs(x, y, "sqeuclidean")
    valid = np.arange(width) < size
    reduced = np.asarray(leaf_potentials.reduced_cost(jnp.asarray(block, jnp.float32),
                                                      jnp.asarray(valid)), np.float64)
    rows, cols = linear_sum_assignment(reduced[:size, :size])
    best, _ = optimum(x[:size], y[:size])
    assert block[rows, cols].sum() <= best * (1 + 1e-5)
    flat = leaf_potentials.reduced_cost(jnp.full((width, width), 2.0, jnp.float32),
                                        jnp.asarray(valid))
    assert float(jnp.ptp(flat[:size, :size])) <= 1e-6
