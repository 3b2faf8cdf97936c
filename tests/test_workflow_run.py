"""A real run of the whole workflow on a tiny configuration (n = 64 to 256, every method),
then the report: tables, figures, records and the report must hold one entry per run, sane
numbers and every table and figure."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest
from conftest import SESSION_ENV, background_run, run_snakemake

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
SYNTHETIC_METHODS = {"hiref", "sinkhorn", "progot", "lot", "frlc", "minibatch-16", "exact",
                     "bspot"}
#: (n, method, runs, skipped) of the scaling table: exact is skipped above its max_n = 128.
SCALING_ROWS = {(64, "hiref", 1, 0), (64, "exact", 1, 0), (64, "bspot", 1, 0),
                (256, "hiref", 1, 0), (256, "exact", 0, 1), (256, "bspot", 1, 0)}
SUMMARY_COLUMNS = {
    "experiment", "dataset", "n", "method", "runs", "skipped", "cost_p1_mean", "cost_p2_mean",
    "ratio_to_exact_mean", "seconds_mean", "compile_seconds_mean", "peak_rss_mb", "device",
    "estimator", "reason", "paper_cost_p1", "paper_cost_p2", "paper_seconds", "notes",
}
#: What the report embeds: each table and figure declared with report() in the rules.
REPORTED = {"results/tables/synthetic.csv", "results/tables/scaling.csv",
            "results/figures/runtime_scaling.png",
            "results/figures/alignment_halfmoon_scurve.png"}
#: The report command of the docs (docs/cluster.md); tests/test_docs.py checks they agree.
REPORT_ARGS = ("--report", "results/report.html")
RECORD_FIELDS = {
    "experiment", "dataset", "method", "n", "d", "seed", "status", "reason", "cost_p1",
    "cost_p2", "seconds", "wall_seconds", "peak_rss_mb", "device", "params", "versions",
    "git_commit",
}


@background_run
def tiny_workflow(work):
    """The tiny workflow run and its report (in the background: tests/conftest.py)."""
    import yaml

    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    # CPU-only here: JAX jobs run on the CPU knowingly (docs/cluster.md, "GPUs").
    result = run_snakemake("--configfile", "tiny.yaml", "--cores", "2", "--resources", "gpu=0",
                           workdir=work, timeout=900, environ=SESSION_ENV)
    assert result.returncode == 0, result.stderr[-5000:]
    report = run_snakemake("--configfile", "tiny.yaml", *REPORT_ARGS, workdir=work,
                           environ=SESSION_ENV)
    assert report.returncode == 0, report.stderr[-3000:]
    return work


@pytest.fixture(scope="module")
def workdir(tiny_workflow):
    return tiny_workflow


@pytest.mark.slow
def test_tables_hold_one_row_per_method_and_size(workdir):
    tables = workdir / "results" / "tables"
    synthetic = pd.read_csv(tables / "synthetic.csv")
    assert SUMMARY_COLUMNS <= set(synthetic.columns)
    assert sorted(synthetic["method"]) == sorted(SYNTHETIC_METHODS)
    assert (synthetic["n"] == 128).all() and (synthetic["runs"] == 1).all()
    assert (synthetic[["cost_p1_mean", "cost_p2_mean", "seconds_mean"]] > 0).all().all()
    assert synthetic.set_index("method").loc["exact", "ratio_to_exact_mean"] == 1.0
    scaling = pd.read_csv(tables / "scaling.csv")
    assert set(zip(scaling["n"], scaling["method"], scaling["runs"], scaling["skipped"])) == (
        SCALING_ROWS)
    runs = pd.read_csv(tables / "scaling_runs.csv")
    assert sorted(zip(runs["n"], runs["method"], runs["status"])) == sorted(
        (n, method, "skipped" if skipped else "ok") for n, method, _, skipped in SCALING_ROWS)
    # The Markdown table: one row per summary row, with its W1 (five significant digits).
    markdown = (tables / "synthetic.md").read_text()
    for row in synthetic.itertuples():
        line = re.search(rf"^\| {row.dataset} +\| +{row.n} \| {re.escape(row.method)} +\|.*$",
                         markdown, re.MULTILINE)
        assert line and f"| {row.cost_p1_mean:.5g} " in line.group(), (row.method, markdown)


@pytest.mark.slow
def test_figures_are_drawn(workdir):
    from PIL import Image

    figures = workdir / "results" / "figures"
    for name in ("runtime_scaling", "alignment_halfmoon_scurve"):
        with Image.open(figures / f"{name}.png") as image:
            assert image.format == "PNG" and min(image.size) >= 300, (name, image.size)
            colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
        # Lines, markers and text in several colours, not an empty canvas.
        assert len(colours) > 100, name
        assert (figures / f"{name}.pdf").read_bytes().startswith(b"%PDF"), name
    # The runtime figure's data: each scaling row, ours, and no paper value (tiny sizes).
    data = pd.read_csv(figures / "runtime_scaling.csv")
    assert set(zip(data["n"], data["method"], data["runs"], data["skipped"])) == SCALING_ROWS
    assert data[["paper_seconds", "paper_cost"]].isna().all(axis=None)


def report_results(html: str) -> dict:
    """The results a Snakemake report embeds: path -> {caption, data_uri, job_properties...}."""
    match = re.search(r"^\s*var results = (\{.*\});?\s*$", html, re.MULTILINE)
    assert match, "the report embeds no results"
    return json.loads(match.group(1))


@pytest.mark.slow
def test_report_embeds_every_table_and_figure(workdir):
    """`snakemake --report` (REPORT_ARGS) after the run: every table and figure the rules
    declare, byte for byte, each with its caption."""
    embedded = report_results((workdir / "results" / "report.html").read_text())
    assert set(embedded) == REPORTED
    for path, item in embedded.items():
        data = base64.b64decode(item["data_uri"].split("base64,", 1)[1])
        assert data == (workdir / path).read_bytes(), path
        caption = re.sub(r"<[^>]+>", " ", item["caption"])
        assert len(caption.split()) >= 20, (path, caption)


@pytest.mark.slow
def test_records_are_complete(workdir):
    records = sorted((workdir / "results" / "runs").rglob("*.json"))
    assert len(records) == 8 + 2 * 3
    for path in records:
        record = json.loads(path.read_text())
        assert RECORD_FIELDS <= set(record), path
        assert record["git_commit"], path  # the code's commit, though the run is outside it
        if record["status"] == "ok":
            assert record["seconds"] > 0 and record["cost_p2"] > 0
            assert record["versions"]["ott-jax"] == "0.6.0"


@pytest.mark.slow
def test_costs_are_sane(workdir):
    runs = pd.read_csv(workdir / "results" / "tables" / "synthetic_runs.csv")
    assert (runs["status"] == "ok").all(), runs[runs["status"] != "ok"]
    for dataset, group in runs.groupby("dataset"):
        # The cost every method minimised (W2 here: no config/config.yaml in this folder, so
        # the schema's default cost applies).
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
