"""Every method of the registry on small inputs, the plan scoring, the labels, the registry
and the schema generated from it, and the run's record and arrays."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from hiref import AuthorsSettings, HiRefConfig, methods, records, settings
from hiref import workflow_config as wc
from hiref.datasets import save_pair, synthetic
from hiref.methods import outputs, scoring
from hiref.methods.authors_hiref import PAPER_SETTINGS

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


def sample_label(spec) -> str:
    """The method's label with a small sweep value (a fast run at N points)."""
    return f"{spec.name}-16" if spec.sweep else spec.name


#: Every registered method under every cost it supports, but the exact reference itself.
CASES = [(sample_label(spec), cost) for spec in methods.METHODS.values() if spec.name != "exact"
         for cost in spec.costs]


@pytest.mark.parametrize("label, cost", CASES)
def test_method_is_feasible_and_no_better_than_exact(pair, exact, label, cost):
    x, y = pair
    spec = methods.METHODS[methods.parse_label(label)[0]]
    result = methods.run(label, x, y, methods.resolve_params(label, {}, cost), seed=0)
    assert result.status == "ok", result.reason
    assert result.seconds > 0
    assert (result.compile_seconds is not None and result.compile_seconds > 0) == spec.uses_jax
    best = objective(exact[cost], cost)
    # Every plan is a feasible coupling, so it cannot beat the optimum (float tolerance).
    assert objective(result, cost) >= best * (1 - 1e-6)
    assert objective(result, cost) <= best * 1.5
    # It returns exactly the arrays of its output form.
    arrays = spec.output.arrays(result.perm, result.arrays, result.status)
    if spec.output is outputs.BIJECTION:
        assert sorted(arrays["perm"].tolist()) == list(range(N))
    if spec.output is outputs.MAP:  # e.g. FRLC's argmax map of its plan
        assert arrays["map"].shape == (N,)
        assert 0 <= arrays["map"].min() and arrays["map"].max() < N
    if label == "frlc":
        assert result.extra["map_distinct_targets"] == np.unique(arrays["map"]).size
    if spec.output is not outputs.BIJECTION:
        # Every plan also records its cost as the solver returned it (the authors' number),
        # which may undercut the optimum only by about the cost of the mass it misses.
        unrounded = result.extra["unrounded_cost_p1" if cost == "euclidean"
                                 else "unrounded_cost_p2"]
        assert 0.9 * best < unrounded < 1.5 * best
        assert result.extra["unrounded_cost_p1"] > 0 and result.extra["unrounded_cost_p2"] > 0
    assert result.params["cost"] == cost


@pytest.mark.parametrize("label", ["hiref", "hiref_refined"])
def test_hiref_close_to_exact(pair, exact, label):
    result = methods.run(label, *pair, methods.resolve_params(label), seed=0)
    assert result.cost_p2 <= 1.10 * exact["sqeuclidean"].cost_p2


def test_hiref_is_the_authors_algorithm_and_hiref_refined_ours():
    paper, ours = (methods.METHODS[label] for label in ("hiref", "hiref_refined"))
    assert isinstance(paper.settings, AuthorsSettings) and ours.settings == HiRefConfig()
    assert paper.run.__module__ == "hiref.methods.authors_hiref"
    assert "FRLC at every level" in paper.estimator and "rank Q" in paper.estimator
    assert "exact assignment of each leaf" in ours.estimator


def test_paper_hiref_spells_out_every_value():
    """The paper's settings never come from AuthorsSettings' defaults: spelled_out refuses a
    missing field, and hiref's defaults are PAPER_SETTINGS', field by field."""
    with pytest.raises(TypeError, match="missing .*'gamma'"):
        settings.spelled_out(AuthorsSettings, **{k: v for k, v in PAPER_SETTINGS.to_dict().items()
                                                 if k != "gamma"})
    assert methods.METHODS["hiref"].settings is PAPER_SETTINGS
    assert {"hierarchy_depth": 6, "max_q": 1024, "max_rank": 16, "gamma": 30.0, "max_iter": 60,
            "min_iter": 25, "inner_iters_balanced": 100, "inner_iters_relaxed": 40,
            "initial_latent": "inverse"}.items() <= PAPER_SETTINGS.to_dict().items()


def test_sinkhorn_uses_otts_relative_epsilon_and_records_it(pair):
    from scipy.spatial.distance import cdist

    x, y = pair
    result = methods.run("sinkhorn", x, y, methods.resolve_params("sinkhorn", {}, "euclidean"), 0)
    assert result.extra["epsilon"] == pytest.approx(0.05 * cdist(x, y).std(), rel=1e-3)
    fixed = methods.resolve_params("sinkhorn", {"epsilon": 0.3}, "euclidean")
    assert methods.run("sinkhorn", x, y, fixed, 0).extra["epsilon"] == pytest.approx(0.3)


def test_entropic_minibatch_arrays_rebuild_each_batchs_plan(pair):
    from scipy.spatial.distance import cdist

    x, y = pair
    size = 24  # two full batches and a last one of 16
    params = methods.resolve_params(f"minibatch-{size}", {}, "euclidean")
    result = methods.run(f"minibatch-{size}", x, y, params, seed=0)
    arrays = result.arrays
    perm = arrays["batch_perm"]
    assert sorted(perm.tolist()) == list(range(N)) and int(arrays["batch_size"]) == size
    assert arrays["f"].shape == arrays["g"].shape == (N,) and len(arrays["batch_epsilon"]) == 3
    costs = []
    for k, eps in enumerate(arrays["batch_epsilon"]):
        idx = perm[k * size:(k + 1) * size]
        c = cdist(x[idx], y[idx])
        f, g = arrays["f"][k * size:(k + 1) * size], arrays["g"][k * size:(k + 1) * size]
        plan = np.exp((f[:, None] + g[None, :] - c) / eps)
        assert eps == pytest.approx(0.05 * c.std(), rel=1e-3)  # ott's relative default
        np.testing.assert_allclose(plan.sum(0), 1 / len(idx), rtol=0.05)
        costs.append((plan * c).sum())
    # Equal weight per batch, the last smaller batch included.
    assert result.cost_p1 == pytest.approx(np.mean(costs), rel=0.01)


def test_minibatch_chunks_bound_the_gathered_points_and_do_not_change_the_result(
        pair, monkeypatch):
    """Batches are solved and scored a chunk at a time; in high dimension the gathered points,
    not the batches' cost entries, bound the chunk (ImageNet's batches of 128 in 2048-D
    gathered 1 GiB a side in chunks of 1024 batches)."""
    from hiref.config import BLOCK_ENTRIES
    from hiref.methods import scoring

    assert scoring.batches_per_chunk(5004, 128, 2048) * 128 * 2048 <= BLOCK_ENTRIES
    assert scoring.batches_per_chunk(5004, 128, 2) == BLOCK_ENTRIES // 128**2
    assert scoring.batches_per_chunk(3, 128, 2) == 3
    assert scoring.batches_per_chunk(10, 4096, 2048) == 1
    x, y = pair
    params = methods.resolve_params("minibatch-8", {}, "euclidean")
    whole = methods.run("minibatch-8", x, y, params, seed=0)
    monkeypatch.setattr(scoring, "BLOCK_ENTRIES", 2 * 8 * max(8, x.shape[1]))  # 2 a chunk
    chunked = methods.run("minibatch-8", x, y, params, seed=0)
    assert chunked.cost_p1 == pytest.approx(whole.cost_p1, rel=1e-5)
    np.testing.assert_allclose(chunked.arrays["f"], whole.arrays["f"], rtol=1e-4, atol=1e-5)


def test_minibatch_logs_how_far_it_is(pair, monkeypatch, capsys):
    from hiref.config import BLOCK_ENTRIES
    from hiref.methods import common, scoring

    x, y = pair
    monkeypatch.setattr(scoring, "BLOCK_ENTRIES", 2 * 8 * max(8, x.shape[1]))  # 2 a chunk
    monkeypatch.setattr(common, "PROGRESS_SECONDS", 0.0)  # every chunk
    assert BLOCK_ENTRIES > scoring.BLOCK_ENTRIES
    params = methods.resolve_params("minibatch-8", {}, "euclidean")
    methods.run("minibatch-8", x, y, params, seed=0)
    total = -(-len(x) // 8)
    lines = [line for line in capsys.readouterr().err.splitlines() if "batches in" in line]
    assert len(lines) == -(-(len(x) // 8) // 2) - (len(x) % 8 == 0)  # all chunks but the last
    assert lines[0].endswith("s to go") and f"minibatch: 2 of {total} batches" in lines[0]


@pytest.mark.parametrize("label", ["sinkhorn", "lot", "progot"])
def test_long_ott_solves_log_their_iterations(pair, monkeypatch, capsys, label):
    from hiref.methods import common

    monkeypatch.setattr(common, "PROGRESS_SECONDS", 0.0)  # every error evaluation
    x, y = pair
    methods.run(label, x, y, methods.resolve_params(label, {}, "sqeuclidean"), seed=0)
    lines = [line for line in capsys.readouterr().err.splitlines()
             if f"{label}: iteration " in line]
    assert lines and "of at most" in lines[0] and "error" in lines[0]


def test_exact_matches_scipy_directly(pair, exact):
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    c = cdist(*pair, "sqeuclidean")
    rows, cols = linear_sum_assignment(c)
    assert exact["sqeuclidean"].cost_p2 == pytest.approx(c[rows, cols].mean(), rel=1e-9)


def test_exact_minibatch_seeded_and_improves_with_batch_size(pair):
    x, y = pair
    run = lambda label, seed: methods.run(label, x, y, methods.resolve_params(label), seed)
    assert np.array_equal(run("minibatch_exact-8", 1).perm, run("minibatch_exact-8", 1).perm)
    assert run("minibatch_exact-64", 0).cost_p2 <= run("minibatch_exact-4", 0).cost_p2


@pytest.mark.parametrize("label", ["bspot-16", "lot"])
def test_methods_take_64_bit_seeds(pair, label):
    # BSP-OT takes 31-bit seeds (hiref.seeds.narrow_seed), LOT a JAX key (hiref.seeds.jax_key).
    params = methods.resolve_params(label, {}, "sqeuclidean")
    assert methods.run(label, *pair, params, seed=2**40 + 1).status == "ok"
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
        methods.run(label, *pair, params, seed=2**64)


def test_plan_argmax_matches_the_dense_plan():
    rng = np.random.default_rng(1)
    q, r = rng.random((40, 5), np.float32), rng.random((30, 5), np.float32)
    g = r.sum(0)
    expected = np.argmax(q @ (r / g).T, axis=1)
    np.testing.assert_array_equal(methods.lowrank_plan_argmax(q, r, g), expected)


def test_limits_and_unsupported_costs_are_skipped_not_crashed(pair):
    x, y = pair
    result = methods.run("exact", x, y, methods.resolve_params("exact", {"max_n": 32}), 0)
    assert result.status == "skipped" and "max_n = 32" in result.reason
    result = methods.run("progot", x, y, methods.resolve_params("progot", {"max_n": 16}), 0)
    assert result.status == "skipped" and "memory grows" in result.reason
    result = methods.run("sinkhorn", x, y[:50], methods.resolve_params("sinkhorn"), 0)
    assert result.status == "skipped"


def test_plan_costs_of_the_independent_coupling():
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 3), np.float32), rng.random((20, 3), np.float32)
    d = np.linalg.norm(x[:, None] - y[None], axis=-1)
    q = np.full((30, 1), 1 / 30, np.float32)  # rank one: P = a b^T
    r = np.full((20, 1), 1 / 20, np.float32)
    costs = methods.lowrank_plan_costs(x, y, q, r, np.ones(1, np.float32))
    assert costs.p1 == pytest.approx(d.mean(), rel=1e-5) == costs.unrounded_p1
    assert costs.p2 == pytest.approx((d**2).mean(), rel=1e-5) == costs.unrounded_p2
    assert costs.moved == pytest.approx(0, abs=1e-6)


def test_plan_scoring_compiles_once_per_shape():
    """A second plan of the same shapes reuses the compiled programs (each jit's cache holds
    one entry more after the first call, none after the second), and scores its own data."""
    rng = np.random.default_rng(3)
    programs = [scoring._compiled(scoring._row_scaling, ("plan_rows", "n")),
                scoring._compiled(scoring._scaled_costs, ("plan_rows",)),
                scoring._compiled(scoring._rank_one_costs, ())]

    def score():
        x, y = rng.random((37, 3), np.float32), rng.random((23, 3), np.float32)
        q, r = rng.random((37, 2), np.float32), rng.random((23, 2), np.float32)
        return methods.lowrank_plan_costs(x, y, q / q.sum(), r / r.sum(), np.ones(2, np.float32))

    before = [program._cache_size() for program in programs]
    first = score()
    after_first = [program._cache_size() for program in programs]
    second = score()
    assert [program._cache_size() for program in programs] == after_first
    assert after_first == [b + 1 for b in before] and first.moved > 0  # all three ran
    assert first != second


def test_infeasible_plans_are_rounded_onto_the_marginals(monkeypatch):
    # All mass on the cheap diagonal but rows only half full: unrounded, the cost would be 0.
    monkeypatch.setattr(scoring, "BLOCK_ENTRIES", 8 * 16)  # several row blocks
    x = np.arange(16, dtype=np.float32)[:, None]
    q = np.eye(16, dtype=np.float32) / 32
    costs = methods.lowrank_plan_costs(x, x, q, np.eye(16, dtype=np.float32), np.ones(16))
    assert costs.moved == pytest.approx(0.5, rel=1e-5)
    d = np.abs(x - x.T)
    # The missing half is spread as the independent coupling.
    assert costs.p1 == pytest.approx(0.5 * d.mean(), rel=1e-4)
    assert costs.p2 == pytest.approx(0.5 * (d**2).mean(), rel=1e-4)
    # As the solver returned it (the authors' number): all mass on the diagonal, cost 0.
    assert costs.unrounded_p1 == costs.unrounded_p2 == 0
    assert costs.extra() == {"rounded_mass": costs.moved, "unrounded_cost_p1": 0.0,
                             "unrounded_cost_p2": 0.0}


def test_labels():
    assert methods.parse_label("minibatch-128") == ("minibatch", {"batch_size": 128})
    assert methods.parse_label("lot") == ("lot", {})
    assert methods.parse_label("minibatch_exact-256") == ("minibatch_exact", {"batch_size": 256})
    assert methods.parse_label("hiref_refined") == ("hiref_refined", {})
    for bad in ("lot-3", "nope", "bspot-x", "hiref_refined-2", "minibatch_", "_lot", "Lot"):
        with pytest.raises(ValueError, match="known: hiref"):
            methods.parse_label(bad)
    assert methods.expand_labels("bspot", {"n_plans": [16, 64]}) == ["bspot-16", "bspot-64"]
    assert methods.expand_labels("bspot", {"n_plans": 16}) == ["bspot"]
    params = methods.resolve_params("bspot-16", {"n_plans": [16, 64]}, "euclidean")
    assert params["n_plans"] == 16 and params["cost"] == "euclidean"
    with pytest.raises(ValueError, match="unknown setting"):
        methods.resolve_params("lot", {"rnak": 3})
    pattern = re.compile(f"(?:{methods.label_pattern()})")
    for label in ("hiref", "hiref_refined", "minibatch-64", "minibatch_exact-256", "bspot"):
        assert pattern.fullmatch(label), label
    assert not pattern.fullmatch("hiref_refined-2")


def test_every_method_states_its_estimator():
    for name, method in methods.METHODS.items():
        assert method.estimator and "\n" not in method.estimator, name


@pytest.mark.parametrize("label", ["frlc", "minibatch_exact-16"])
def test_record_and_arrays_of_a_run(tmp_path, pair, label):
    save_pair(tmp_path / "pair.npz", *pair)
    params = methods.resolve_params(label, {"rank": 8} if label == "frlc" else {}, "euclidean")
    records.solve_and_record(
        data=tmp_path / "pair.npz", record=tmp_path / "run.json", matching=tmp_path / "run.npz",
        experiment="e", dataset="d", method=label, params=params, n=N, seed=0,
    )
    record = json.loads((tmp_path / "run.json").read_text())
    spec = methods.METHODS[methods.parse_label(label)[0]]
    assert record["estimator"] == spec.estimator
    assert (record["compile_seconds"] is None) == (not spec.uses_jax)
    with np.load(tmp_path / "run.npz") as arrays:
        assert set(arrays.files) == set(records.NPZ_KEYS)
        assert str(arrays["cost"]) == "euclidean"
        filled = {key for key in arrays.files if arrays[key].size}
    assert filled == {*spec.output.keys, "cost"}


def test_importing_the_registry_imports_no_solver_library():
    # hiref/__init__ may import the solver; the registry itself must not (Snakemake parses it).
    code = (
        "import sys, types; pkg = types.ModuleType('hiref'); pkg.__path__ = [sys.argv[1]]; "
        "sys.modules['hiref'] = pkg; import hiref.methods, hiref.records; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'jax', 'jaxlib', 'ott', 'scipy', 'ot', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "src" / "hiref")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_schema_methods_are_generated_from_the_registry():
    """config/schema.yaml holds no method block; the loaded schema has one per registered
    method whose defaults are the specification's (what the workflow fills in is what
    resolve_params uses), each documented and within its own limits."""
    written = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    assert "properties" not in written["properties"]["methods"]
    schema = wc.load_schema(ROOT / "config" / "schema.yaml")
    config = {"experiments": {"e": {"datasets": ["d"], "methods": ["exact"]}}}
    wc.validate(config, schema)
    assert config["methods"] == {name: spec.defaults for name, spec in methods.METHODS.items()}
    for name, block in schema["properties"]["methods"]["properties"].items():
        for key, prop in block["properties"].items():
            assert prop["description"], f"methods.{name}.{key}"
            jsonschema.validate(prop["default"], prop)
    described = schema["$defs"]["experiment"]["properties"]["methods"]["description"]
    assert ", ".join(methods.METHODS) in described and "batch_size" in described


def test_registry_lines_are_checked():
    assert list(methods.load_registry(["hiref.methods.matching:EXACT"])) == ["exact"]
    with pytest.raises(ValueError, match="'hiref.methods.matching:EXAKT'"):
        methods.load_registry(["hiref.methods.matching:EXAKT"])
    with pytest.raises(ValueError, match="registered already"):
        methods.load_registry(["hiref.methods.matching:EXACT"] * 2)
    with pytest.raises(TypeError, match="not a hiref.methods.spec.MethodSpec"):
        methods.load_registry(["hiref.methods.matching:run_exact"])
    lines = methods.registry_lines({methods.EXTRA_METHODS: "a.b:C, d:E"})
    assert lines == [*methods.REGISTRY, "a.b:C", "d:E"]


def test_a_spec_is_checked_when_defined():
    spec = methods.METHODS["bspot"]
    with pytest.raises(ValueError, match="lower-case"):
        dataclasses.replace(spec, name="BSP-OT")
    with pytest.raises(ValueError, match="not an int field"):
        dataclasses.replace(spec, sweep="n_plan")
    with pytest.raises(ValueError, match="memory_growth"):
        dataclasses.replace(spec, memory_growth=3)


@pytest.mark.parametrize("cost", ["euclidean", "sqeuclidean"])
def test_mean_cost_matches_the_dense_mean(cost):
    rng = np.random.default_rng(0)
    x, y = rng.random((300, 3), np.float32), rng.random((200, 3), np.float32)
    d = np.linalg.norm(x[:, None] - y[None], axis=-1)
    expected = d.mean() if cost == "euclidean" else (d**2).mean()
    assert methods.mean_cost(x, y, cost) == pytest.approx(expected, rel=1e-5)


def test_lot_is_sized_for_its_dense_euclidean_cost():
    """ott's LRSinkhorn holds the n x n Euclidean cost (11.3 GB measured at n = 51363 on the
    MOSTA stand-in): its request grows as n^2 and covers that measurement with headroom."""
    from hiref import resources

    assert methods.METHODS["lot"].memory_growth == 2
    request_mb = resources.solver_mem_mb("lot", 51363, 30, 1, 4000)
    assert request_mb >= 1.25 * 11_315_692 / 1024
    assert resources.solver_mem_mb("lot", 2 * 51363, 30, 1, 4000) > 3.5 * request_mb - 4 * 4000


def test_frlc_is_sized_by_the_cost_form_that_runs():
    """FRLC's work visits all n^2 pairs on the dense cost forms (MERFISH's dense tiled cost)
    and about n on factors (MOSTA): the wall-time request follows the form, the memory stays
    linear in both."""
    from hiref import resources

    def runtime(n, form):
        return resources.solver_runtime("frlc", n, 2, 1, 5,
                                        {"cost": "euclidean", "cost_form": form})

    assert runtime(2 * 84172, "dense_tiled") > 3.5 * runtime(84172, "dense_tiled")
    assert runtime(2 * 84172, "factors") < 2.5 * runtime(84172, "factors")
    assert runtime(84172, "dense_tiled") > 20 * runtime(84172, "factors")
    # `auto` is the dense cost too (held whole up to 2^24 entries, in tiles above).
    assert runtime(84172, "auto") == runtime(84172, "dense_tiled")
    memory = [resources.solver_mem_mb("frlc", n, 2, 1, 0, {"cost": "euclidean",
                                                           "cost_form": "dense_tiled"})
              for n in (84172, 2 * 84172)]
    assert memory[1] == pytest.approx(2 * memory[0], rel=0.01)
    with pytest.raises(ValueError, match="growth gave"):
        dataclasses.replace(methods.METHODS["frlc"], growth=lambda params, n: (3, 1)).growth_at(
            None, 10)


def test_the_exact_scoring_of_a_low_rank_plan_is_in_the_wall_time_request():
    """LOT's and FRLC's plans are scored entry by entry over all n^2 pairs, whatever the
    solve's own growth: at ImageNet's shape (FRLC rank 40 on factors, 2048-D) that scoring,
    about 19 h at the rate measured on MERFISH, sets the request, not the linear solve."""
    from hiref import resources

    def runtime(n, d, rank):
        return resources.solver_runtime("frlc", n, d, 1, 5, {
            "cost": "euclidean", "cost_form": "factors", "rank": rank})

    assert runtime(640500, 2048, 40) > 19 * 60 * 1.25
    assert runtime(640500, 2048, 40) > 10 * runtime(640500, 2, 40)
    assert runtime(84172, 2, 500) > runtime(84172, 2, 40)
    assert runtime(2500, 2048, 40) < 10
    with pytest.raises(ValueError, match="scored_rank 'gamma' is not an int field"):
        dataclasses.replace(methods.METHODS["frlc"], scored_rank="gamma")


def test_progot_asks_for_the_time_of_its_steps():
    """ProgOT runs num_steps Sinkhorn solves one after the other (``repeats``), each weighing
    two (``work_weight``): the MOSTA experiment's four steps ask for about four times the
    dense work of two-step runs, and at n = 18408 for 1.25 times the 116 minutes after which
    its stand-in job had not finished (docs/stand-ins.md)."""
    from hiref import resources

    def runtime(steps):
        return resources.solver_runtime("progot", 18408, 30, 1, 5, {"num_steps": steps})

    assert runtime(4) > 1.7 * runtime(2) > 1.7 * resources.solver_runtime(
        "sinkhorn", 18408, 30, 1, 5, {})
    assert runtime(4) >= 1.25 * 116
    with pytest.raises(ValueError, match="repeats 'alpha_schedule' is not an int field"):
        dataclasses.replace(methods.METHODS["progot"], repeats="alpha_schedule")


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
def test_bspot_merges_under_the_squared_euclidean_cost_and_scores_under_the_experiments(
        cost, monkeypatch):
    # POT's p = 1 is the Manhattan distance, not the Euclidean one; its p = 2 matchings have
    # the lower W1, so BSP-OT always runs p = 2 and the bijection is scored under `cost`.
    import ot

    from hiref.methods.matching import run_bspot

    powers = []
    original = ot.compute_bspot_bijection

    def recording(*args, **kwargs):
        powers.append(kwargs["p"])
        return original(*args, **kwargs)

    monkeypatch.setattr(ot, "compute_bspot_bijection", recording)
    x, y = synthetic.halfmoon_scurve(256, seed=0)
    result = run_bspot(x, y, {"n_plans": 4, "cost": cost}, 0)
    assert powers == [2]
    assert sorted(result.perm) == list(range(256))
    distances = np.sqrt(((x.astype(np.float64) - y[result.perm]) ** 2).sum(1))
    assert result.cost_p1 == pytest.approx(distances.mean(), rel=1e-6)
