"""Published FRLC values carry the authors' cost form and objective form, and stand only
beside a run of the same cost form, in the table column of the same objective form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hiref import methods
from hiref.report import published, tables

MERFISH_FRLC = {"rank": 500, "gamma": 200, "max_iter": 20, "min_iter": 20,
                "inner_iters_balanced": 300, "inner_iters_relaxed": 300, "tau_in": 500}


def entry(experiment, method="frlc", n=None):
    rows = published.load().query(
        "experiment == @experiment and method == @method and metric == 'cost_p1'")
    return (rows if n is None else rows[rows["n"] == n]).iloc[0]


def test_frlc_entries_name_the_authors_cost_and_objective_forms():
    merfish, mosta, imagenet = entry("merfish"), entry("mosta", n=5913), entry("imagenet")
    assert merfish["value"] == 415.07
    assert merfish["cost_form"] == ["dense_matrix", "dense_tiled"]
    assert merfish["objective"] == "unrounded_plan_cost"
    assert (mosta["value"], mosta["cost_form"], mosta["objective"]) == (
        23.14, ["factors_sampled"], "solver_objective")
    assert imagenet["objective"] == "unknown"
    assert entry("merfish", "hiref")["objective"] == "plan"


@pytest.mark.parametrize("cost_form, withheld", [
    ("dense_tiled", None), ("dense_matrix", None),
    ("auto", None),  # at n = 84172 auto is the dense cost in tiles
    ("factors", "cost form factors_sampled here, dense_matrix or dense_tiled in the paper"),
    (None, "cost form not recorded here"),
])
def test_merfish_value_stands_only_beside_the_dense_cost(cost_form, withheld):
    settings = {**MERFISH_FRLC, **({} if cost_form is None else {"cost_form": cost_form})}
    params = methods.resolve_params("frlc", settings, "euclidean")
    if cost_form is None:
        del params["cost_form"]  # a record written before cost forms existed
    reason = published.compare(entry("merfish"), "euclidean", params)
    assert reason == withheld if withheld is None else withheld in reason


def test_mosta_value_needs_the_sampled_factors_and_imagenet_stands_beside_nothing():
    params = methods.resolve_params("frlc", {}, "euclidean")  # auto: the exact dense cost
    assert "cost form dense_tiled here, factors_sampled in the paper" in published.compare(
        entry("mosta", n=5913), "euclidean", params)
    factors = {**params, "cost_form": "factors"}
    assert published.compare(entry("mosta", n=5913), "euclidean", factors) is None
    assert "objective form unknown" in published.compare(
        entry("imagenet"), "euclidean", {**factors, "rank": 40, "gamma": 30})


def mosta_record(tmp_path, name, *, cost_form="factors", extra=None):
    params = methods.resolve_params("frlc", {"cost_form": cost_form}, "euclidean")
    rec = {
        "experiment": "mosta", "dataset": "mosta_E9.5_E10.5", "method": "frlc", "n": 5913,
        "d": 30, "seed": 0, "cost": "euclidean", "status": "ok", "reason": None,
        "cost_p1": 23.61, "cost_p2": 600.0, "seconds": 3.0, "compile_seconds": 2.0,
        "wall_seconds": 10.0, "peak_rss_mb": 500.0, "device": "cpu", "estimator": "frlc",
        "params": params, "git_commit": "abc", "versions": {}, "stand_in": False,
        "extra": {"cost_form": "factors_sampled", "solver_objective": 22.87,
                  "unrounded_plan_cost": 23.4} if extra is None else extra,
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(rec))
    return path


def test_table_sets_the_paper_value_beside_the_authors_form(tmp_path):
    summary = tables.summarise(tables.load_runs([mosta_record(tmp_path, "ok")]),
                               published.load())
    row = summary.iloc[0]
    assert row["paper_cost_p1"] == 23.14 and row["form_cost_p1"] == 22.87
    assert row["cost_p1_mean"] == 23.61  # W1 stays the exact cost of the rounded plan
    text = tables.to_markdown(summary, "euclidean", published.load())
    header, *_ = [line for line in text.splitlines() if line.startswith("| dataset")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns.index("paper W1") == columns.index("W1, paper's form") + 1
    line = next(line for line in text.splitlines() if line.startswith("| mosta"))
    assert "22.87" in line and "23.14" in line and "23.61" in line
    assert "not beside W1, the exact cost of our plan rounded" in text
    assert "W2, paper's form" not in text  # nothing published under W2


def test_table_withholds_the_value_beside_another_form(tmp_path):
    dense = mosta_record(tmp_path, "dense", cost_form="auto",
                         extra={"cost_form": "dense_tiled", "solver_objective": 23.5})
    unrecorded = mosta_record(tmp_path, "old", extra={"cost_form": "factors_sampled"})
    for path, why in ((dense, "cost form dense_tiled here, factors_sampled in the paper"),
                      (unrecorded, "1 of 1 runs recorded extra.solver_objective")):
        summary = tables.summarise(tables.load_runs([path]), published.load())
        assert np.isnan(summary["paper_cost_p1"][0]) and np.isnan(summary["form_cost_p1"][0])
        assert why in " ".join(summary["notes"][0])
        assert "23.14" not in tables.to_markdown(summary, "euclidean", published.load())


@pytest.mark.parametrize("spec, match", [
    ({"cost_form": "dense_tiled"}, "cost_form must be a list"),
    ({"cost_form": ["dense"]}, "cost_form must be a list"),
    ({"objective": "w_cost"}, "objective must be one of"),
])
def test_bad_forms_are_refused_naming_the_entry(tmp_path, spec, match):
    group = {"experiment": "merfish", "dataset": "merfish", "metric": "cost_p1",
             "cost": "euclidean", "source": "nb",
             "methods": {"frlc": {"values": {84172: 415.07}, **spec}}}
    path = tmp_path / "published.yaml"
    path.write_text(json.dumps({"groups": [group]}))
    with pytest.raises(ValueError, match=f"groups\\[0\\].methods.frlc.{match}"):
        published.load(path)
