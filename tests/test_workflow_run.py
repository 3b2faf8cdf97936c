"""A real run of the whole workflow on a tiny configuration (n = 64 to 256, every method),
then the report: tables, figures and records must exist and hold sane numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import run_snakemake

TINY = {
    "run": ["synthetic", "scaling"],
    "experiments": {
        "synthetic": {
            "datasets": ["halfmoon_scurve"],
            "n": [128],
            "seeds": [0],
            "methods": ["hiref", "sinkhorn", "progot", "lot", "frlc", "minibatch", "exact",
                        "bspot"],
        },
        "scaling": {
            "datasets": ["halfmoon_scurve"],
            "n": [64, 256],
            "seeds": [0],
            "methods": ["hiref", "exact", "bspot"],
            "settings": {"exact": {"max_n": 128}},
        },
    },
    "methods": {"minibatch": {"batch_size": [16]}, "bspot": {"n_plans": 8}},
    "figures": {"alignment_methods": ["hiref", "exact"]},
}
RECORD_FIELDS = {
    "experiment", "dataset", "method", "n", "d", "seed", "status", "reason", "cost_p1",
    "cost_p2", "seconds", "wall_seconds", "peak_rss_mb", "device", "params", "versions",
    "git_commit",
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import yaml

    work = tmp_path_factory.mktemp("workflow")
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    # CPU-only here: JAX jobs run on the CPU knowingly (README, "Usage").
    result = run_snakemake("--configfile", "tiny.yaml", "--cores", "2", "--resources", "gpu=0",
                           workdir=work, timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    report = run_snakemake("--configfile", "tiny.yaml", "--report", "results/report.html",
                           workdir=work)
    assert report.returncode == 0, report.stderr[-3000:]
    return work


@pytest.mark.slow
def test_outputs_exist(workdir):
    results = workdir / "results"
    for path in ("tables/synthetic.csv", "tables/synthetic.md", "tables/scaling.csv",
                 "tables/scaling_runs.csv", "figures/runtime_scaling.png",
                 "figures/runtime_scaling.pdf", "figures/alignment_halfmoon_scurve.png",
                 "report.html"):
        assert (results / path).stat().st_size > 0, path


@pytest.mark.slow
def test_records_are_complete(workdir):
    records = sorted((workdir / "results" / "runs").rglob("*.json"))
    assert len(records) == 8 + 2 * 3
    for path in records:
        record = json.loads(path.read_text())
        assert RECORD_FIELDS <= set(record), path
        if record["status"] == "ok":
            assert record["seconds"] > 0 and record["cost_p2"] > 0
            assert record["versions"]["ott-jax"] == "0.6.0"


@pytest.mark.slow
def test_costs_are_sane(workdir):
    runs = pd.read_csv(workdir / "results" / "tables" / "synthetic_runs.csv")
    assert (runs["status"] == "ok").all(), runs[runs["status"] != "ok"]
    for dataset, group in runs.groupby("dataset"):
        # The cost every method minimised (W1: the default synthetic experiment is p = 1).
        exact = group.loc[group["method"] == "exact", "objective"].item()
        # Every method's plan is feasible: never below the optimum.
        assert (group["objective"] >= exact * (1 - 1e-6)).all(), group[["method", "objective"]]
        hiref = group.loc[group["method"] == "hiref", "objective"].item()
        assert hiref <= 1.10 * exact, dataset
    summary = pd.read_csv(workdir / "results" / "tables" / "synthetic.csv")
    assert set(summary["method"]) == {"hiref", "sinkhorn", "progot", "lot", "frlc",
                                      "minibatch-16", "exact", "bspot"}


@pytest.mark.slow
def test_limits_give_skipped_rows_not_failures(workdir):
    record = json.loads(
        (workdir / "results/runs/scaling/halfmoon_scurve/exact/n256_seed0.json").read_text()
    )
    assert record["status"] == "skipped" and "max_n = 128" in record["reason"]
    table = (workdir / "results" / "tables" / "scaling.md").read_text()
    assert "max_n = 128" in table and "—" in table
