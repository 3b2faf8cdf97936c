"""FRLC (hiref.frlc): feasibility, descent, quality against exact OT, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from hiref import costs, frlc
from hiref.datasets import synthetic
from hiref.methods import scoring

# Enough inner updates for the projections to converge, so marginals can be checked tightly.
CONVERGED = frlc.FRLCConfig(rank=8, inner_iters_balanced=1000, inner_iters_relaxed=1000)


def exact_cost(x, y, cost):
    c = cdist(x, y, cost)
    rows, cols = linear_sum_assignment(c)
    return c[rows, cols].mean()


@pytest.fixture(scope="module")
def pair():
    return synthetic.sample_pair("halfmoon_scurve", 96, seed=0)


def test_factors_and_latent_coupling_have_the_marginals(pair):
    x, y = pair[0], pair[1][:64]  # n != m
    res = frlc.solve(x, y, "euclidean", CONVERGED, seed=0)
    q, r, t = (np.asarray(v, np.float64) for v in (res.q, res.r, res.t))
    assert q.shape == (96, 8) and r.shape == (64, 8) and t.shape == (8, 8)
    np.testing.assert_allclose(q.sum(1), 1 / 96, rtol=3e-3)
    np.testing.assert_allclose(r.sum(1), 1 / 64, rtol=3e-3)
    np.testing.assert_allclose(t.sum(1), q.sum(0), rtol=3e-3)
    np.testing.assert_allclose(t.sum(0), r.sum(0), rtol=3e-3)
    left, right, g = res.diagonal_form()
    plan = np.asarray(left) @ (np.asarray(right) / np.asarray(g)).T
    np.testing.assert_allclose(plan.sum(1), 1 / 96, rtol=5e-3)
    np.testing.assert_allclose(plan.sum(0), 1 / 64, rtol=5e-3)


def test_objective_decreases(pair):
    config = frlc.FRLCConfig(rank=8, max_iter=80, min_iter=80)
    res = frlc.solve(*pair, "sqeuclidean", config, seed=1)
    obj = np.asarray(res.objective)
    assert int(res.n_iters) == 80 and np.isfinite(obj).all()
    assert obj[-1] < 0.9 * obj[0]
    # Mirror descent on a non-convex problem: allow tiny increases between iterations.
    assert (np.diff(obj) <= 5e-3 * obj[0]).all()


def test_stops_between_min_and_max_iterations(pair):
    res = frlc.solve(*pair, "euclidean", frlc.FRLCConfig(rank=8, min_iter=5, max_iter=40), 0)
    assert 5 <= int(res.n_iters) <= 40
    assert np.isnan(np.asarray(res.objective)[int(res.n_iters):]).all()


def test_full_rank_recovers_near_exact_cost():
    x, y = synthetic.sample_pair("halfmoon_scurve", 32, seed=0)
    config = frlc.FRLCConfig(rank=32, max_iter=300, min_iter=300, inner_iters_balanced=300,
                             inner_iters_relaxed=300)
    res = frlc.solve(x, y, "sqeuclidean", config, seed=0)
    _, p2, _ = scoring.lowrank_plan_costs(x, y, *res.diagonal_form())
    assert exact_cost(x, y, "sqeuclidean") * (1 - 1e-6) <= p2 <= 1.01 * exact_cost(
        x, y, "sqeuclidean")


def test_rank_40_beats_a_random_co_clustering_by_a_margin():
    n, rank = 1024, 40
    x, y = synthetic.sample_pair("halfmoon_scurve", n, seed=0)
    res = frlc.solve(x, y, "sqeuclidean", frlc.FRLCConfig(rank=rank), seed=0)
    _, ours, _ = scoring.lowrank_plan_costs(x, y, *res.diagonal_form())
    rng = np.random.default_rng(0)
    onehot = np.eye(rank, dtype=np.float32)
    q, r = onehot[rng.permutation(n) % rank] / n, onehot[rng.permutation(n) % rank] / n
    _, random, _ = scoring.lowrank_plan_costs(x, y, q, r, q.sum(0))
    exact = exact_cost(x, y, "sqeuclidean")
    assert exact <= ours <= exact + 0.3 * (random - exact)


def test_deterministic_for_a_seed(pair):
    config = frlc.FRLCConfig(rank=8, max_iter=10, min_iter=10)
    first, again, other = (frlc.solve(*pair, "euclidean", config, seed=s) for s in (3, 3, 4))
    assert np.array_equal(np.asarray(first.q), np.asarray(again.q))
    assert np.array_equal(np.asarray(first.t), np.asarray(again.t))
    assert not np.array_equal(np.asarray(first.q), np.asarray(other.q))


def test_sampled_euclidean_factors_with_more_landmarks_are_closer():
    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=(256, 30)).astype(np.float32) for _ in range(2))
    exact = cdist(x, y)
    mask = np.ones(256, bool)
    key = __import__("jax").random.key(0)

    def error(landmarks):
        left, right = costs.sampled_factors(x, y, mask, 16, key, landmarks=landmarks)
        return np.linalg.norm(np.asarray(left) @ np.asarray(right).T - exact)

    assert error(160) < 0.5 * error(16)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"config": frlc.FRLCConfig(rank=200)}, "rank 200 exceeds"),
        ({"cost": "cityblock"}, "cost must be one of"),
        ({"seed": -1}, "seed must be"),
        ({"seed": 1.5}, "seed must be"),
        ({"x": np.full((96, 2), np.nan)}, "NaN"),
        ({"x": np.zeros((96, 3))}, "same dimension"),
        ({"x": np.zeros(96)}, "non-empty"),
        ({"y": np.zeros((50, 2)), "config": frlc.FRLCConfig(rank=8, cost_form="factors")},
         "needs \\|x\\| = \\|y\\|"),
        ({"config": {"rank": 8}}, "must be an FRLCConfig"),
    ],
)
def test_bad_input_is_refused(pair, change, match):
    args = {"x": pair[0], "y": pair[1], "cost": "euclidean", "config": CONVERGED, "seed": 0}
    with pytest.raises(ValueError, match=match):
        frlc.solve(**{**args, **change})


@pytest.mark.parametrize(
    "field, value",
    [("rank", 0), ("rank", 2.0), ("gamma", -1.0), ("gamma", "5"), ("tau_in", float("inf")),
     ("min_iter", 100), ("cost_eps", 2.0), ("cost_form", "sparse"), ("max_iter", True)],
)
def test_bad_config_is_refused(field, value):
    with pytest.raises(ValueError, match=f"FRLCConfig.{field}"):
        frlc.FRLCConfig(**{field: value})
