"""Hostile input: extreme scales, far from the origin, ties, 64-bit mode, bad arguments, and
the device assignment solver against SciPy."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

import hiref
from hiref import assignment, seeds
from hiref.datasets import synthetic

# Leaves of 32 make n = 256 a real hierarchy (low-rank levels, leaves, refinement).
SMALL = hiref.HiRefConfig(max_leaf=32, refine_sweeps=2)


def exact_cost(x, y, p=2):
    c = ((x[:, None, :].astype(np.float64) - y[None].astype(np.float64)) ** 2).sum(-1)
    c = c if p == 2 else np.sqrt(c)
    rows, cols = linear_sum_assignment(c)
    return c[rows, cols].mean()


def clouds(n=256, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.uniform(size=(n, d)) + 0.5


def assert_bijection(out, n):
    assert np.array_equal(np.sort(out.perm), np.arange(n))


@pytest.mark.parametrize("scale, offset, dtype", [
    (1e19, 0.0, np.float64), (1e30, 0.0, np.float32), (1e30, 0.0, np.float64),
    (1e-30, 0.0, np.float32), (1e-30, 0.0, np.float64),
    (1.0, 1e6, np.float64), (1.0, 1e8, np.float64),
])
def test_extreme_scales_and_offsets_stay_close_to_exact(scale, offset, dtype):
    x, y = clouds()
    x, y = (x * scale + offset).astype(dtype), (y * scale + offset).astype(dtype)
    out = hiref.solve(x, y, config=SMALL)
    assert_bijection(out, 256)
    # The exact cost of the same points, measured after removing the offset in float64.
    best = exact_cost(x.astype(np.float64) - offset, y.astype(np.float64) - offset)
    assert out.cost_p2 <= 1.01 * best * (1 + 1e-9) + 1e-300
    assert np.isfinite(out.extra["levels"][0]["objective"])


def test_identical_and_duplicated_points():
    same = np.ones((100, 3))
    out = hiref.solve(same, same + 1.0, config=SMALL)
    assert_bijection(out, 100)
    assert out.cost_p2 == pytest.approx(3.0)
    rng = np.random.default_rng(1)
    x = np.repeat(rng.normal(size=(20, 2)), 10, axis=0)  # 20 points, each 10 times
    y = np.repeat(rng.normal(size=(50, 2)), 4, axis=0)
    # Atoms of 10 copies straddle co-clusters of 25; leaves of 64 leave room to regroup them.
    out = hiref.solve(x, y, config=SMALL.replace(max_leaf=64))
    assert_bijection(out, 200)
    assert out.cost_p2 <= 1.02 * exact_cost(x, y)


def test_huge_and_negative_cost_matrix():
    rng = np.random.default_rng(2)
    x, y = clouds(120)
    matrix = -rng.uniform(size=(120, 120)) * 1e300  # beyond float32, all negative
    out = hiref.solve(x, y, cost=matrix, config=SMALL)
    assert_bijection(out, 120)
    rows, cols = linear_sum_assignment(matrix)
    best = matrix[rows, cols].mean()
    assert np.isfinite(out.extra["matrix_cost"])
    # Costs are negative: "no worse than 1.10 x" reads as at most 10 % of |best| above it.
    assert best <= out.extra["matrix_cost"] <= best + 0.10 * abs(best)


def test_device_leaf_solver_matches_the_host_solver():
    x, y = clouds(300, 3, seed=4)
    host = hiref.solve(x, y, config=SMALL.replace(leaf_solver="scipy"))
    device = hiref.solve(x, y, config=SMALL.replace(leaf_solver="jax"))
    assert host.extra["leaf_solver"] == "scipy" and device.extra["leaf_solver"] == "jax"
    assert_bijection(device, 300)
    assert device.cost_p2 == pytest.approx(host.cost_p2, rel=1e-5)


def test_64_bit_mode_in_a_fresh_process():
    # JAX's x64 flag is process-wide: a subprocess keeps it from leaking into other tests.
    code = (
        "import json, numpy as np, hiref\n"
        "rng = np.random.default_rng(0)\n"
        "x, y = rng.normal(size=(300, 2)), rng.uniform(size=(300, 2))\n"
        "out = {}\n"
        "for solver in ('scipy', 'jax'):\n"
        "    config = hiref.HiRefConfig(max_leaf=32, refine_sweeps=1, leaf_solver=solver)\n"
        "    a = hiref.solve(x, y, config=config, seed=2**40)\n"
        "    out[solver] = [sorted(a.perm.tolist()) == list(range(300)), a.cost_p2,"
        " a.extra['dtype']]\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    out = json.loads(done.stdout.splitlines()[-1])
    rng = np.random.default_rng(0)
    best = exact_cost(rng.normal(size=(300, 2)), rng.uniform(size=(300, 2)))
    for is_bijection, cost, dtype in out.values():
        assert is_bijection and dtype == "float64"
        assert best <= cost * (1 + 1e-9) and cost <= 1.02 * best


@pytest.mark.parametrize("pair", ["halfmoon_scurve", "checkerboard", "gaussian_mixtures_8d"])
def test_unequal_sizes_within_two_percent_of_exact(pair):
    make = {"halfmoon_scurve": synthetic.halfmoon_scurve, "checkerboard": synthetic.checkerboard,
            "gaussian_mixtures_8d": lambda n, seed: synthetic.gaussian_mixtures(n, seed, dim=8)}
    x, _ = make[pair](1024, 0)
    _, y = make[pair](1536, 1)
    out = hiref.solve(x, y, config=hiref.HiRefConfig(max_leaf=64))
    cost = ((x[:, None].astype(np.float64) - y[None]) ** 2).sum(-1)
    best = ot.emd2(np.full(1024, 1 / 1024), np.full(1536, 1 / 1536), cost, numItermax=10**7)
    assert best <= out.cost_p2 * (1 + 1e-6)
    assert out.cost_p2 <= 1.02 * best, f"{pair}: {out.cost_p2 / best:.4f} x exact"


GOOD = np.zeros((5, 2))


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": None}, "seed must be an integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"seed": "0"}, "seed must be an integer"),
    ({"seed": True}, "seed must be an integer"),
    ({"seed": 2**64}, r"seed must be an integer in \[0, 2\*\*64\)"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*64\)"),
    ({"config": hiref.HiRefConfig(gamma="5")}, "gamma must be a positive number"),
    ({"config": hiref.HiRefConfig(gamma=float("nan"))}, "gamma"),
    ({"config": hiref.HiRefConfig(max_leaf=2.0)}, "max_leaf must be an integer"),
    ({"config": hiref.HiRefConfig(outer_iters=True)}, "outer_iters must be an integer"),
    ({"config": hiref.HiRefConfig(refine_tol="0.1")}, "refine_tol"),
    ({"config": hiref.HiRefConfig(leaf_solver="gpu")}, "leaf_solver must be one of"),
    ({"config": hiref.HiRefConfig(schedule="24")}, "schedule must list integer ranks"),
    ({"config": hiref.HiRefConfig(schedule=(2.5,))}, "schedule must list integer ranks"),
    ({"progress": 3}, "progress must be"),
])
def test_bad_arguments_are_value_errors_naming_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hiref.solve(GOOD, GOOD, **kwargs)


def test_seeds_are_64_bit_for_every_library():
    """A seed's JAX key is jax.random.key's own below 2**32 (those seeds draw what they always
    drew); above, seeds differing only above bit 32 get different keys and draws
    (jax.random.key, outside 64-bit mode, keeps the low 32 bits only). Narrowed seeds (for a
    library taking fewer bits) are the seed itself when it fits, distinct otherwise."""
    for seed in (0, 5, 2**31, 2**32 - 1):
        assert np.array_equal(jax.random.key_data(seeds.jax_key(seed)),
                              jax.random.key_data(jax.random.key(seed)))
    wide = (7, 7 + 2**32, 7 + 2**63, 2**64 - 1)
    draws = {tuple(np.asarray(jax.random.uniform(seeds.jax_key(s), (4,)))) for s in wide}
    assert len(draws) == len(wide)
    assert [seeds.narrow_seed(s, 31) for s in (0, 2**31 - 1)] == [0, 2**31 - 1]
    narrowed = {seeds.narrow_seed(s, 31) for s in (7, *wide)}
    assert len(narrowed) == len(wide) and max(narrowed) < 2**31
    for bad in (2**64, -1):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
            seeds.jax_key(bad)


BLOCK = 160
_assign = jax.jit(lambda cost, valid: assignment.assign(assignment.padded_cost(cost, valid)))


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, BLOCK), kind=st.sampled_from(["real", "ties", "negative"]),
       seed=st.integers(0, 2**16))
def test_device_assignment_matches_scipy_on_padded_blocks(size, kind, seed):
    rng = np.random.default_rng(seed)
    if kind == "ties":
        costs = rng.integers(0, 3, size=(size, size)).astype(np.float32)
    elif kind == "negative":
        costs = -rng.uniform(0, 1e6, size=(size, size)).astype(np.float32)
    else:
        costs = rng.uniform(size=(size, size)).astype(np.float32)
    # One compiled shape: every block is padded to BLOCK with garbage outside the valid part.
    padded = rng.normal(size=(BLOCK, BLOCK)).astype(np.float32) * 1e3
    padded[:size, :size] = costs
    valid = np.arange(BLOCK) < size
    col = np.asarray(_assign(jnp.asarray(padded), jnp.asarray(valid)))
    assert np.array_equal(np.sort(col), np.arange(BLOCK))
    assert np.all(col[:size] < size)
    rows, best = linear_sum_assignment(costs.astype(np.float64))
    got = costs.astype(np.float64)[np.arange(size), col[:size]].sum()
    optimum = costs.astype(np.float64)[rows, best].sum()
    assert got <= optimum + 1e-5 * max(1.0, abs(optimum))


@pytest.mark.parametrize("cost, with_matrix", [
    ("sqeuclidean", False), ("euclidean", False), ("precomputed", True),
])
def test_cost_products_run_at_full_precision_whatever_the_default(cost, with_matrix):
    # On GPUs JAX's default matmul precision may be TensorFloat-32; every product in a level
    # and in the device leaves must ask for full precision explicitly, so that the lowered
    # programs say HIGHEST even under a lower global default.
    from hiref import solver

    config = hiref.HiRefConfig(max_leaf=32, leaf_solver="jax")
    plan = solver._make_plan(1024, config, np.float32)
    with jax.default_matmul_precision("tensorfloat32"):
        texts = [
            solver._lower_level(plan, 1024, 3, 1, 1024, 16, with_matrix, cost, config).as_text(),
            solver._lower_leaves(plan, 1024, 3, 32, 32, with_matrix, cost, config).as_text(),
        ]
    products = [line for text in texts for line in text.splitlines() if "dot_general" in line]
    assert len(products) >= 3
    assert all("precision = [HIGHEST, HIGHEST]" in line for line in products), products
