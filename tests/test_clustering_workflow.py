"""The imbalanced-clustering study through Snakemake: a small real run in a temporary
directory (every method, two seeds, few epochs, a two-point KL sweep), and its
configuration checks."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SESSION_ENV, background_run, run_snakemake

# Outside the repository the Snakefile's own config/config.yaml is not found: name it.
DEFAULTS = str(ROOT / "config/config.yaml")
SMALL = {
    "run": ["imbalanced_clustering"],
    "imbalanced_clustering": {
        "datasets": ["digits_lt"], "seeds": [0, 1],
        "training": {"epochs": 4},
        "kl_sweep": [0.3, 1.0],
    },
}
RECORD_FIELDS = {
    "study", "dataset", "method", "seed", "n", "d", "k", "scores", "class_sizes",
    "class_accuracy", "cluster_sizes", "seconds", "compile_seconds", "wall_seconds",
    "peak_rss_mb", "device", "params", "data", "history", "versions", "git_commit",
    "selected_epoch", "solver",
}


@background_run
def small_study(work):
    """The small study run (in the background: tests/conftest.py)."""
    (work / "small.yaml").write_text(yaml.safe_dump(SMALL))
    # CPU-only here: JAX jobs run on the CPU knowingly (docs/cluster.md, "GPUs").
    result = run_snakemake("--configfile", DEFAULTS, "small.yaml", "--cores", "2",
                           "--resources", "gpu=0", workdir=work, timeout=600,
                           environ=SESSION_ENV)
    assert result.returncode == 0, result.stderr[-5000:]
    return work


@pytest.fixture(scope="module")
def workdir(small_study):
    return small_study


@pytest.mark.slow
def test_study_writes_tables_figure_and_records(workdir):
    results = workdir / "results"
    for path in ("tables/imbalanced_clustering.csv", "tables/imbalanced_clustering.md",
                 "figures/imbalanced_clustering_class_accuracy.png",
                 "figures/imbalanced_clustering_class_accuracy.pdf"):
        assert (results / path).stat().st_size > 0, path
    records = sorted((results / "clustering" / "runs").rglob("*.json"))
    assert len(records) == 4 * 2
    for path in records:
        record = json.loads(path.read_text())
        assert RECORD_FIELDS <= set(record), path
        assert record["n"] == 707 and record["k"] == 10
        assert record["data"]["imbalance_ratio"] == 0.1
        assert record["versions"]["optax"] and record["versions"]["ott-jax"] == "0.6.0"
        assert 0 <= record["scores"]["acc"] <= 1 and record["seconds"] > 0
        assert record["git_commit"]  # the code's commit, though the run is outside the repo
    p2ot = json.loads((results / "clustering/runs/digits_lt/p2ot/seed0.json").read_text())
    # rho rises from about rho_base to rho_upper over the epochs, and the plan moves rho.
    rho = p2ot["history"]["rho"]
    assert rho[0] == pytest.approx(0.1, abs=0.01) and rho[-1] == pytest.approx(1.0)
    assert p2ot["history"]["mass"] == pytest.approx(rho, abs=1e-3)
    # Every labelling's solver iterations and converged flag; the authors' selection.
    solver = p2ot["solver"]
    assert len(solver["iterations"]) == len(solver["converged"]) == 4
    assert solver["capped"] == solver["converged"].count(False)
    scores = p2ot["history"]["selection_score"]
    assert p2ot["selected_epoch"] == max(e for e in range(4) if scores[e] == min(scores[:e + 1]))
    assert p2ot["params"]["evaluation"] == {"groups": "authors", "model_selection": "loss"}
    kmeans = json.loads((results / "clustering/runs/digits_lt/kmeans/seed0.json").read_text())
    assert kmeans["solver"] is None and kmeans["selected_epoch"] is None


@pytest.mark.slow
def test_table_has_every_method_and_the_verdict(workdir):
    table = pd.read_csv(workdir / "results/tables/imbalanced_clustering.csv")
    assert list(table["method"]) == ["kmeans", "sela", "p2ot", "supervised"]
    assert (table["seeds"] == 2).all()
    # Solves: one per epoch and seed for the pseudo-label methods, none for the others.
    assert table.set_index("method")["solves"].to_dict() == {
        "kmeans": 0, "sela": 8, "p2ot": 8, "supervised": 0}
    supervised = table.set_index("method").loc["supervised"]
    assert supervised["acc_mean"] > 0.8  # the ceiling: the features separate the digits
    text = (workdir / "results/tables/imbalanced_clustering.md").read_text()
    assert "balanced OT (SeLa) on mean ACC" in text and "± " in text
    assert "Provenance: seeds 0, 1; git " in text and '"rho_schedule": "sigmoid"' in text
    assert "capped solves" in text and "first 30 %, next 40 % and last 30 %" in text


@pytest.mark.slow
def test_kl_sweep_table_and_figure(workdir):
    results = workdir / "results"
    sweep = pd.read_csv(results / "tables/imbalanced_clustering_kl_weight.csv")
    assert sweep["kl_weight"].tolist() == [0.3, 1.0] and (sweep["seeds"] == 2).all()
    records = sorted((results / "clustering/kl_sweep/digits_lt").glob("*.json"))
    assert [p.name for p in records] == [
        "lam0.3_seed0.json", "lam0.3_seed1.json", "lam1_seed0.json", "lam1_seed1.json"]
    lam = {json.loads(p.read_text())["params"]["p2ot"]["kl_weight"] for p in records}
    assert lam == {0.3, 1.0}
    # lam = 1 is the main run's setting: the sweep reproduces the main p2ot rows.
    main = pd.read_csv(results / "tables/imbalanced_clustering.csv").set_index("method")
    assert sweep.set_index("kl_weight").at[1.0, "acc_mean"] == pytest.approx(
        main.at["p2ot", "acc_mean"], abs=1e-6)
    assert (results / "figures/imbalanced_clustering_kl_weight.png").stat().st_size > 0


# Each check starts Snakemake (seconds); the solver settings are checked in test_clustering.
@pytest.mark.parametrize("change, fragment", [
    ({"data": {"digits_lt": {"imbalance_ratio": 0}}}, "imbalance_ratio"),
    ({"methods": ["kmeans", "spectral"]}, "spectral"),
])
def test_bad_study_config_is_rejected_before_any_job(change, fragment, write_config):
    path = write_config({"imbalanced_clustering": change})
    result = run_snakemake("-n", "--configfile", str(path))
    text = result.stdout + result.stderr
    assert result.returncode != 0 and "Building DAG" not in text
    assert fragment in text and "imbalanced_clustering" in text, text[-2000:]


def test_cifar100_lt_chain_is_planned_with_the_resnet50_embedding(write_config):
    path = write_config({"run": ["imbalanced_clustering"],
                         "imbalanced_clustering": {"datasets": ["cifar100_lt"]}})
    result = run_snakemake("-n", "--configfile", str(path), "--quiet", "rules")
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    for rule in ("retrieve", "extract_cifar100_lt", "embed_images",
                 "prepare_clustering_data", "cluster", "gather_clustering_table"):
        assert rule in text, rule
