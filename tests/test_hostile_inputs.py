"""Hostile inputs to hiref.solve (issue 22): each a correct result or a ValueError naming the fix.

Integer and long-double clouds far from the origin, clusters far apart relative to their
spread, tiny and huge values, ties on a small integer grid, a schedule given as a NumPy array,
and the bounds of depth and max_expansion. Every problem is small (one exact leaf, or the
atoms of a grid), so nothing is compiled and the file runs in seconds.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import ot
import pytest
from scipy.optimize import linear_sum_assignment

import hiref
from hiref import atoms
from hiref.config import MAX_DEPTH, MAX_EXPANSION
from hiref.schedule import solver_schedule
from hiref.settings import properties
from hiref.validation import check_config

#: One exact leaf on the host (the problems hold at most 128 points per side): the result
#: must be the optimum (up to float64 rounding).
HOST = hiref.HiRefConfig(leaf_solver="scipy", max_leaf=128)


def pair_costs(x, y, perm, p=2):
    """|x_i - y_perm(i)|^p of the returned matching, evaluated in float64 by NumPy."""
    diff = np.asarray(x, np.float64) - np.asarray(y, np.float64)[perm]
    sq = (diff * diff).sum(-1)
    return sq if p == 2 else np.sqrt(sq)


def exact_mean(x, y, p=2):
    """The optimal mean cost (SciPy on float64 differences)."""
    diff = np.asarray(x, np.float64)[:, None] - np.asarray(y, np.float64)[None]
    cost = (diff * diff).sum(-1)
    cost = cost if p == 2 else np.sqrt(cost)
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].mean()


def far_clouds(dtype, n=100, seed=0):
    rng = np.random.default_rng(seed)
    return tuple((10**9 + 10 * rng.normal(size=(n, 2))).astype(dtype) for _ in range(2))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.longdouble])
def test_integer_and_long_double_clouds_far_from_the_origin_are_solved_exactly(dtype):
    x, y = far_clouds(dtype)
    out = hiref.solve(x, y, config=HOST)
    # Reference geometry: offsets removed in float64 (the float64 values of the input).
    x64, y64 = np.asarray(x, np.float64) - 1e9, np.asarray(y, np.float64) - 1e9
    best = exact_mean(x64, y64)
    assert pair_costs(x64, y64, out.perm).mean() == pytest.approx(best, rel=1e-9)
    assert out.cost_p2 == pytest.approx(pair_costs(x, y, out.perm).mean(), rel=1e-9)
    assert out.cost_p1 == pytest.approx(pair_costs(x, y, out.perm, 1).mean(), rel=1e-9)
    assert out.cost_p2 > 10  # about 2 * 100, never the 0.0 of a cast before centring


def clustered(n=100, offset=1e9, seed=1):
    """Half the points of both clouds shifted by ``offset``, unit spread."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    x[::2] += offset
    y[::2] += offset
    return x, y


def coincident_pair(n=100, seed=2):
    """Unit-spread clouds with one coincident pair at 1e10."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    x[0] = y[0] = 1e10
    return x, y


@pytest.mark.parametrize("make", [clustered, coincident_pair])
def test_clusters_far_apart_relative_to_their_spread_give_the_exact_leaf(make):
    x, y = make()
    out = hiref.solve(x, y, config=HOST)
    assert out.schedule == [100]  # one exact leaf
    centre = x.mean(0)
    assert pair_costs(x - centre, y - centre, out.perm).mean() == pytest.approx(
        exact_mean(x - centre, y - centre), rel=1e-9)


def test_tiny_values_report_their_costs():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    for unit in (1e-200, 1e-150):
        out = hiref.solve(x * unit, y * unit, config=HOST)
        assert pair_costs(x, y, out.perm).mean() == pytest.approx(exact_mean(x, y), rel=1e-9)
        # The reference scaled after the square root: no underflow on its way.
        assert out.cost_p1 == pytest.approx(pair_costs(x, y, out.perm, 1).mean() * unit,
                                            rel=1e-12)
        # 1e-400 is below float64's smallest number: 0.0 is its correct rounding.
        expected_p2 = pair_costs(x, y, out.perm).mean() * unit * unit
        assert out.cost_p2 == pytest.approx(expected_p2, rel=1e-12, abs=0.0)


def test_huge_values():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    # Squared distances of points near 1e300 overflow float64: a clear error naming the fix.
    with pytest.raises(ValueError, match="overflow float64.*Divide x and y by a common factor, e.g. 1e301"):
        hiref.solve(x * 1e300, y * 1e300, config=HOST)
    # Up to 1e150 the squared Euclidean cost is a float64 number: exact and reported right.
    out = hiref.solve(x * 1e150, y * 1e150, config=HOST)
    assert pair_costs(x, y, out.perm).mean() == pytest.approx(exact_mean(x, y), rel=1e-9)
    assert out.cost_p2 == pytest.approx(pair_costs(x, y, out.perm).mean() * 1e300, rel=1e-12)
    # The Euclidean cost of points near 1e300 is still a float64 number: exact, and cost_p1
    # right; cost_p2 (about 1e600) is inf.
    out = hiref.solve(x * 1e300, y * 1e300, cost="euclidean", config=HOST)
    assert pair_costs(x, y, out.perm, 1).mean() == pytest.approx(exact_mean(x, y, 1), rel=1e-9)
    assert out.cost_p1 == pytest.approx(pair_costs(x, y, out.perm, 1).mean() * 1e300, rel=1e-12)
    assert np.isfinite(out.cost_p1) and out.cost_p2 == np.inf


def grid(n, seed):
    """``n`` points drawn on the 3 x 3 integer grid (many ties)."""
    return np.random.default_rng(seed).integers(0, 3, size=(n, 2)).astype(np.float64)


@pytest.mark.parametrize("seed", [0, 5, 6])  # 1.09, 1.09 and 1.24 x exact before the fix
def test_ties_on_a_small_integer_grid_are_solved_exactly(seed):
    x, y = grid(300, seed), grid(300, seed + 100)
    out = hiref.solve(x, y)  # default settings
    assert out.extra["levels"][0]["atoms"] == [9, 9]
    assert out.cost_p2 == pytest.approx(exact_mean(x, y), rel=1e-12)
    assert out.cost_p2 == pytest.approx(pair_costs(x, y, out.perm).mean(), rel=1e-12)


def test_ties_with_unequal_sizes_give_the_optimal_coupling():
    x, y = grid(300, 7), grid(200, 8)
    out = hiref.solve(x, y)
    rows, cols, weights = out.coupling
    assert np.allclose(np.bincount(rows, weights, 300), 1 / 300)
    assert np.allclose(np.bincount(cols, weights, 200), 1 / 200)
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    best = ot.emd2(np.full(300, 1 / 300), np.full(200, 1 / 200), cost)
    assert out.cost_p2 == pytest.approx(best, rel=1e-12)


def test_only_clouds_of_few_atoms_are_taken_for_atoms():
    rng = np.random.default_rng(9)
    for n in (300, 5000):  # whole clouds probed, and evenly spaced rows of larger ones
        assert atoms.find(rng.normal(size=(n, 2)), rng.normal(size=(n, 2))) is None
    # One side on the grid, the other of distinct points: fewer than two points per atom.
    assert atoms.find(grid(300, 0), rng.normal(size=(300, 2))) is None
    found = atoms.find(grid(5000, 1), grid(5000, 2))
    assert [len(a.points) for a in found] == [9, 9]
    assert [int(a.counts.sum()) for a in found] == [5000, 5000]


def test_a_schedule_given_as_a_numpy_array():
    config = hiref.HiRefConfig(schedule=np.array([2, 2]))
    check_config(config)
    assert solver_schedule(64, config.max_rank, config.max_leaf, config.depth,
                           config.schedule) == [2, 2, 16]
    assert json.loads(json.dumps(config.to_dict()))["schedule"] == [2, 2]
    rng = np.random.default_rng(10)
    x = rng.normal(size=(64, 2))
    for bad in (np.array([2.5]), np.array([[2, 2]]), np.array([], int)):
        with pytest.raises(ValueError, match="HiRefConfig.schedule must list integer ranks"):
            hiref.solve(x, x, config=hiref.HiRefConfig(schedule=bad))


@pytest.mark.parametrize("field, value, message", [
    ("depth", 10**9, f"depth must be at most {MAX_DEPTH}.*lower depth"),
    ("max_expansion", 10**6, f"max_expansion must be at most {MAX_EXPANSION}.*subsample"),
])
def test_depth_and_max_expansion_are_bounded_before_any_work(field, value, message):
    prime = np.zeros((8191, 1))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        hiref.solve(prime, prime, config=hiref.HiRefConfig(**{field: value}))
    assert time.perf_counter() - started < 1.0
    # The workflow's schema carries the same bound (generated from the field's setting).
    assert properties(hiref.HiRefConfig())[field]["maximum"] == {
        "depth": MAX_DEPTH, "max_expansion": MAX_EXPANSION}[field]


def test_the_largest_depth_plans_a_prime_quickly():
    started = time.perf_counter()
    assert hiref.plan_levels(8191, depth=MAX_DEPTH)[-1] <= 128
    assert time.perf_counter() - started < 1.0


def test_unequal_sizes_that_would_make_huge_leaves_are_refused():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(130, 2)), rng.normal(size=(128, 2))  # lcm 8320: 64 and 65 repeats
    with pytest.raises(ValueError, match="max_leaf to at most 63"):
        hiref.solve(x, y, config=hiref.HiRefConfig(max_expansion=MAX_EXPANSION))


def test_64_bit_mode_in_a_fresh_process():
    # JAX's x64 flag is process-wide: a subprocess keeps it from leaking into other tests.
    code = (
        "import json, sys, numpy as np, hiref\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_hostile_inputs import clustered, far_clouds, HOST\n"
        "x, y = far_clouds(np.int64)\n"
        "a = hiref.solve(x, y, config=HOST)\n"
        "u, v = clustered()\n"
        "b = hiref.solve(u, v, config=HOST)\n"
        "print(json.dumps({'far': [a.perm.tolist(), a.cost_p2, a.extra['dtype']],"
        " 'clustered': [b.perm.tolist(), b.cost_p2, b.extra['dtype']]}))\n"
    )
    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    done = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    out = json.loads(done.stdout.splitlines()[-1])
    x, y = far_clouds(np.int64)
    x64, y64 = x.astype(np.float64) - 1e9, y.astype(np.float64) - 1e9
    perm, cost, dtype = out["far"]
    assert dtype == "float64"
    assert pair_costs(x64, y64, perm).mean() == pytest.approx(exact_mean(x64, y64), rel=1e-9)
    assert cost == pytest.approx(pair_costs(x, y, perm).mean(), rel=1e-9)
    u, v = clustered()
    perm, cost, _ = out["clustered"]
    centre = u.mean(0)
    assert pair_costs(u - centre, v - centre, perm).mean() == pytest.approx(
        exact_mean(u - centre, v - centre), rel=1e-9)
