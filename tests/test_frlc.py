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
    p2 = scoring.lowrank_plan_costs(x, y, *res.diagonal_form()).p2
    assert exact_cost(x, y, "sqeuclidean") * (1 - 1e-6) <= p2 <= 1.01 * exact_cost(
        x, y, "sqeuclidean")


def test_rank_40_beats_a_random_co_clustering_by_a_margin():
    n, rank = 1024, 40
    x, y = synthetic.sample_pair("halfmoon_scurve", n, seed=0)
    res = frlc.solve(x, y, "sqeuclidean", frlc.FRLCConfig(rank=rank), seed=0)
    ours = scoring.lowrank_plan_costs(x, y, *res.diagonal_form()).p2
    rng = np.random.default_rng(0)
    onehot = np.eye(rank, dtype=np.float32)
    q, r = onehot[rng.permutation(n) % rank] / n, onehot[rng.permutation(n) % rank] / n
    random = scoring.lowrank_plan_costs(x, y, q, r, q.sum(0)).p2
    exact = exact_cost(x, y, "sqeuclidean")
    assert exact <= ours <= exact + 0.3 * (random - exact)


def test_deterministic_for_a_seed(pair):
    config = frlc.FRLCConfig(rank=8, max_iter=10, min_iter=10)
    # Seeds are 64-bit: 3 + 2**32 differs from 3 only above bit 32, and draws otherwise.
    first, again, other, high = (frlc.solve(*pair, "euclidean", config, seed=s)
                                 for s in (3, 3, 4, 3 + 2**32))
    assert np.array_equal(np.asarray(first.q), np.asarray(again.q))
    assert np.array_equal(np.asarray(first.t), np.asarray(again.t))
    assert not np.array_equal(np.asarray(first.q), np.asarray(other.q))
    assert not np.array_equal(np.asarray(first.q), np.asarray(high.q))


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
        ({"seed": 2**64}, r"seed must be an integer in \[0, 2\*\*64\)"),
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


@pytest.mark.parametrize("changes, match", [
    ({"rank": 0}, "FRLCConfig.rank must be a positive integer, got 0"),
    ({"max_iter": True}, "FRLCConfig.max_iter must be a positive integer, got True"),
    ({"gamma": float("nan")}, "FRLCConfig.gamma must be a positive number, got nan"),
    ({"tol": -1e-3}, "FRLCConfig.tol must be a positive number"),
    ({"min_iter": 90, "max_iter": 60}, "min_iter = 90 exceeds max_iter = 60"),
    ({"cost_eps": 2.0}, r"cost_eps must lie in \(0, 1\]"),
    ({"projection": "dense"}, "FRLCConfig.projection must be one of"),
    ({"cost_form": "sampled"}, "FRLCConfig.cost_form must be one of"),
    ({"initial_latent": "identity"}, "FRLCConfig.initial_latent must be one of"),
])
def test_bad_settings_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        frlc.FRLCConfig(**changes)


@pytest.mark.parametrize(
    "field, value",
    [("rank", 0), ("rank", 2.0), ("gamma", -1.0), ("gamma", "5"), ("tau_in", float("inf")),
     ("min_iter", 100), ("cost_eps", 2.0), ("cost_form", "sparse"), ("max_iter", True)],
)
def test_bad_config_is_refused(field, value):
    with pytest.raises(ValueError, match=f"FRLCConfig.{field}"):
        frlc.FRLCConfig(**{field: value})


# ----------------------------------------------------------------- cost forms (dense tiled)
@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 7 rows for 50-200 columns: several tiles and a padded last one."""
    monkeypatch.setattr(frlc, "BLOCK_ENTRIES", 7 * 200)


@pytest.mark.parametrize("cost", ["euclidean", "sqeuclidean"])
def test_tiled_products_equal_the_dense_matrix_products(small_tiles, cost):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 2)).astype(np.float32) * 100
    y = (rng.normal(size=(200, 2)) * 80 + 30).astype(np.float32)
    valid_x, valid_y = np.ones(150, bool), np.ones(200, bool)
    valid_x[[3, 149]], valid_y[[0, 57]] = False, False
    matrix = np.asarray(frlc.costs.pairwise(x, y, cost), np.float64)
    matrix[~valid_x], matrix[:, ~valid_y] = 0, 0
    r_mat, q_mat = rng.random((200, 9)).astype(np.float32), rng.random((150, 9)).astype(np.float32)
    op = frlc.TiledCost(x, y, valid_x, valid_y, 1.0, cost)
    for ours, dense in ((op.times(r_mat), matrix @ r_mat),
                        (op.times_transposed(q_mat), matrix.T @ q_mat)):
        np.testing.assert_allclose(np.asarray(ours), dense, rtol=2e-6, atol=2e-6 * abs(dense).max())


def test_max_normalisation_is_the_exact_largest_distance(small_tiles):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(150, 2)).astype(np.float32), rng.normal(size=(120, 2)).astype(np.float32)
    valid_x, valid_y = np.arange(150) < 140, np.arange(120) < 100
    exact = cdist(x[valid_x], y[valid_y]).max()
    assert float(frlc.max_pairwise_distance(x, y, valid_x, valid_y)) == pytest.approx(exact, 1e-6)
    for form in ("dense_matrix", "dense_tiled"):
        config = frlc.FRLCConfig(rank=4, cost_form=form)
        a, b = valid_x / valid_x.sum(), valid_y / valid_y.sum()
        op = frlc.cost_operator(x, y, a.astype(np.float32), b.astype(np.float32), "euclidean",
                                config, None)
        assert float(op.scale) == pytest.approx(exact, 1e-6)
        normalised = np.asarray(op.times(np.eye(120, dtype=np.float32)))  # C / scale
        assert normalised.max() == pytest.approx(1.0, abs=1e-6)


def test_auto_never_leaves_the_exact_dense_cost():
    big = int(np.sqrt(frlc.DENSE_MATRIX_ENTRIES)) + 1
    assert frlc.resolve_cost_form(64, 64, "euclidean", "auto") == "dense_matrix"
    assert frlc.resolve_cost_form(big, big, "euclidean", "auto") == "dense_tiled"
    assert frlc.resolve_cost_form(big, big, "sqeuclidean", "auto") == "dense_tiled"
    assert frlc.resolve_cost_form(64, 64, "euclidean", "factors") == "factors_sampled"
    assert frlc.resolve_cost_form(64, 64, "sqeuclidean", "factors") == "factors_exact"
    assert frlc.resolve_cost_form(64, 64, "euclidean", "dense_tiled") == "dense_tiled"


def test_dense_tiled_solve_equals_the_dense_matrix_solve(pair, small_tiles):
    runs = [frlc.solve(*pair, "euclidean", frlc.FRLCConfig(rank=8, max_iter=12, min_iter=12,
                                                           cost_form=form), seed=2)
            for form in ("dense_matrix", "dense_tiled")]
    matrix, tiled = (np.asarray(r.objective) for r in runs)
    np.testing.assert_allclose(tiled, matrix, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(runs[1].q), np.asarray(runs[0].q), rtol=1e-3,
                               atol=1e-3 * float(np.asarray(runs[0].q).max()))


def test_factored_plan_cost_is_the_exact_cost_of_the_unrounded_plan(pair, small_tiles):
    x, y = pair
    res = frlc.solve(x, y, "euclidean", frlc.FRLCConfig(rank=8, max_iter=10, min_iter=10), 0)
    left, right, g = (np.asarray(v, np.float64) for v in res.diagonal_form())
    plan = left @ (right / g).T
    for cost in ("euclidean", "sqeuclidean"):
        dense = (cdist(x, y, cost) * plan).sum()
        assert frlc.factored_plan_cost(x, y, *res.diagonal_form(), cost) == pytest.approx(
            dense, rel=1e-5)


def test_records_name_the_cost_form_and_both_authors_forms(pair):
    from hiref import methods

    x, y = pair
    for form, expected in (("auto", "dense_matrix"), ("dense_tiled", "dense_tiled"),
                           ("factors", "factors_sampled")):
        params = methods.resolve_params(
            "frlc", {"rank": 8, "max_iter": 10, "min_iter": 10, "cost_form": form,
                     "cost_rank": 2, "cost_eps": 1.0}, "euclidean")
        extra = methods.run("frlc", x, y, params, 0).extra
        assert extra["cost_form"] == expected
        if expected.startswith("dense"):
            # On the exact cost the solver's objective is the exact cost of its plan.
            assert extra["solver_objective"] == pytest.approx(extra["unrounded_cost_p1"],
                                                              rel=1e-5)
        else:  # a crude rank-2 factorisation: its objective is not the plan's exact cost
            assert extra["solver_objective"] != pytest.approx(extra["unrounded_cost_p1"],
                                                              rel=1e-3)


def test_plan_scoring_with_a_padded_last_block(pair, monkeypatch):
    # n = 96 in blocks of 40 rows: the last block is padded, and an unrounded plan needs the
    # rank-one correction (it once failed on the padded error vector: every FRLC run at n
    # above 4096 that is not a multiple of the block).
    x, y = pair
    res = frlc.solve(x, y, "euclidean", frlc.FRLCConfig(rank=8, max_iter=5, min_iter=5), 0)
    whole = scoring.lowrank_plan_costs(x, y, *res.diagonal_form())
    monkeypatch.setattr(scoring, "BLOCK_ENTRIES", 40 * 96)
    blocks = scoring.lowrank_plan_costs(x, y, *res.diagonal_form())
    assert whole[2] > 0 and np.allclose(blocks, whole, rtol=1e-5)
