"""Every method of the registry on small inputs, the plan scoring, and the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hiref import methods
from hiref.datasets import synthetic
from hiref.methods import scoring

ROOT = Path(__file__).resolve().parents[1]
N = 64


@pytest.fixture(scope="module")
def pair():
    return synthetic.sample_pair("halfmoon_scurve", N, seed=0)


@pytest.fixture(scope="module")
def exact(pair):
    return {
        cost: methods.run("exact", *pair, methods.resolve_params("exact", {}, cost), 0)
        for cost in ("sqeuclidean", "euclidean")
    }


def objective(result, cost):
    return result.cost_p2 if cost == "sqeuclidean" else result.cost_p1


@pytest.mark.parametrize(
    "label, cost",
    [
        ("hiref", "sqeuclidean"), ("hiref", "euclidean"),
        ("sinkhorn", "sqeuclidean"), ("sinkhorn", "euclidean"),
        ("progot", "sqeuclidean"),
        ("lot", "sqeuclidean"), ("frlc", "euclidean"),
        ("minibatch-16", "sqeuclidean"), ("bspot-8", "sqeuclidean"), ("bspot", "euclidean"),
    ],
)
def test_method_is_feasible_and_no_better_than_exact(pair, exact, label, cost):
    x, y = pair
    result = methods.run(label, x, y, methods.resolve_params(label, {}, cost), seed=0)
    assert result.status == "ok", result.reason
    assert result.seconds > 0
    best = objective(exact[cost], cost)
    # Every plan is a feasible coupling, so it cannot beat the optimum (float tolerance).
    assert objective(result, cost) >= best * (1 - 1e-6)
    assert objective(result, cost) <= best * 1.5
    if result.perm is not None:
        assert sorted(result.perm.tolist()) == list(range(N))
    assert result.params["cost"] == cost


def test_hiref_close_to_exact(pair, exact):
    result = methods.run("hiref", *pair, methods.resolve_params("hiref"), seed=0)
    assert result.cost_p2 <= 1.10 * exact["sqeuclidean"].cost_p2


def test_exact_matches_scipy_directly(pair, exact):
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    c = cdist(*pair, "sqeuclidean")
    rows, cols = linear_sum_assignment(c)
    assert exact["sqeuclidean"].cost_p2 == pytest.approx(c[rows, cols].mean(), rel=1e-9)


def test_minibatch_seeded_and_improves_with_batch_size(pair):
    x, y = pair
    run = lambda label, seed: methods.run(label, x, y, methods.resolve_params(label), seed)
    assert np.array_equal(run("minibatch-8", 1).perm, run("minibatch-8", 1).perm)
    assert run("minibatch-64", 0).cost_p2 <= run("minibatch-4", 0).cost_p2


def test_limits_and_unsupported_costs_are_skipped_not_crashed(pair):
    x, y = pair
    result = methods.run("exact", x, y, methods.resolve_params("exact", {"max_n": 32}), 0)
    assert result.status == "skipped" and "max_n = 32" in result.reason
    result = methods.run("progot", x, y, methods.resolve_params("progot", {}, "euclidean"), 0)
    assert result.status == "skipped" and "sqeuclidean" in result.reason
    result = methods.run("sinkhorn", x, y[:50], methods.resolve_params("sinkhorn"), 0)
    assert result.status == "skipped"


def test_plan_costs_of_the_independent_coupling():
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 3), np.float32), rng.random((20, 3), np.float32)
    d = np.linalg.norm(x[:, None] - y[None], axis=-1)
    q = np.full((30, 1), 1 / 30, np.float32)  # rank one: P = a b^T
    r = np.full((20, 1), 1 / 20, np.float32)
    p1, p2, moved = methods.lowrank_plan_costs(x, y, q, r, np.ones(1, np.float32))
    assert p1 == pytest.approx(d.mean(), rel=1e-5)
    assert p2 == pytest.approx((d**2).mean(), rel=1e-5)
    assert moved == pytest.approx(0, abs=1e-6)


def test_infeasible_plans_are_rounded_onto_the_marginals(monkeypatch):
    # All mass on the cheap diagonal but rows only half full: unrounded, the cost would be 0.
    monkeypatch.setattr(scoring, "PLAN_BLOCK", 8 * 16)  # several row blocks
    x = np.arange(16, dtype=np.float32)[:, None]
    q = np.eye(16, dtype=np.float32) / 32
    p1, p2, moved = methods.lowrank_plan_costs(x, x, q, np.eye(16, dtype=np.float32), np.ones(16))
    assert moved == pytest.approx(0.5, rel=1e-5)
    d = np.abs(x - x.T)
    # The missing half is spread as the independent coupling.
    assert p1 == pytest.approx(0.5 * d.mean(), rel=1e-4)
    assert p2 == pytest.approx(0.5 * (d**2).mean(), rel=1e-4)


def test_labels():
    assert methods.parse_label("minibatch-128") == ("minibatch", {"batch_size": 128})
    assert methods.parse_label("lot") == ("lot", {})
    for bad in ("lot-3", "nope", "bspot-x"):
        with pytest.raises(ValueError, match="known: hiref"):
            methods.parse_label(bad)
    assert methods.expand_labels("bspot", {"n_plans": [16, 64]}) == ["bspot-16", "bspot-64"]
    assert methods.expand_labels("bspot", {"n_plans": 16}) == ["bspot"]
    params = methods.resolve_params("bspot-16", {"n_plans": [16, 64]}, "euclidean")
    assert params["n_plans"] == 16 and params["cost"] == "euclidean"
    with pytest.raises(ValueError, match="unknown setting"):
        methods.resolve_params("lot", {"rnak": 3})


def test_schema_documents_every_method_setting_with_its_default():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    documented = schema["properties"]["methods"]["properties"]
    assert set(documented) == set(methods.METHODS)
    for name, method in methods.METHODS.items():
        props = documented[name]["properties"]
        assert set(props) == set(method.defaults), name
        for key, default in method.defaults.items():
            assert props[key]["default"] == default, f"config/schema.yaml: methods.{name}.{key}"


@pytest.mark.parametrize("cost", ["euclidean", "sqeuclidean"])
def test_mean_cost_matches_the_dense_mean(cost):
    rng = np.random.default_rng(0)
    x, y = rng.random((300, 3), np.float32), rng.random((200, 3), np.float32)
    d = np.linalg.norm(x[:, None] - y[None], axis=-1)
    expected = d.mean() if cost == "euclidean" else (d**2).mean()
    assert methods.mean_cost(x, y, cost) == pytest.approx(expected, rel=1e-5)
