"""The workflow's DAG, lint and configuration checks (dry runs: no job is executed)."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_snakemake


def dry_run(*args, **kwargs):
    # Targets first: --quiet takes optional values and would swallow them.
    result = run_snakemake(*args, "-n", "--quiet", "rules", **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_default_target_builds_tables_figures_for_every_method():
    out = dry_run()
    for rule in ("simulate_points", "solve_ot", "gather_tables", "plot_runtime_scaling",
                 "plot_alignment"):
        assert rule in out


@pytest.mark.parametrize("experiment", ["synthetic", "scaling"])
def test_each_experiment_alone(experiment):
    out = dry_run(f"results/tables/{experiment}.csv")
    assert "solve_ot" in out and "plot_" not in out


def test_paper_config_reaches_2_to_the_20():
    out = run_snakemake(
        "results/runs/scaling/halfmoon_scurve/hiref/n1048576_seed0.json",
        "-n", "--configfile", "config/paper.yaml",
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_slurm_profile_dry_run():
    out = dry_run("--profile", "profiles/slurm")
    assert "solve_ot" in out


def test_lint_is_clean():
    result = run_snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "good condition" in result.stdout + result.stderr


BAD_CONFIGS = {
    # config change -> fragments the message must contain
    "unknown top-level key": ({"colour": "red"}, ["colour", "Additional properties"]),
    "wrong cost": (
        {"experiments": {"synthetic": {"cost": "manhattan"}}},
        ["manhattan", "sqeuclidean", "euclidean"],
    ),
    "empty dataset list": ({"experiments": {"synthetic": {"datasets": []}}}, ["datasets"]),
    "unknown method": (
        {"experiments": {"synthetic": {"methods": ["hiref", "simplex"]}}},
        ["experiments.synthetic.methods", "'simplex'", "sinkhorn", "bspot"],
    ),
    "unknown dataset": (
        {"experiments": {"scaling": {"datasets": ["mnist"]}}},
        ["experiments.scaling.datasets", "'mnist'", "halfmoon_scurve"],
    ),
    "unknown experiment in run": ({"run": ["synthetc"]}, ["run", "'synthetc'", "scaling"]),
    "unknown method setting": (
        {"methods": {"sinkhorn": {"epsilom": 0.1}}}, ["epsilom", "sinkhorn"],
    ),
    "bad sweep value": ({"methods": {"minibatch": {"batch_size": [0]}}}, ["batch_size"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configs_are_rejected_before_any_job(case, write_config):
    change, fragments = BAD_CONFIGS[case]
    path = write_config(change)
    # Merged over config/config.yaml (the Snakefile's configfile), as a user's file would be.
    result = run_snakemake("-n", "--configfile", str(path))
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Building DAG" not in text  # rejected while parsing, before any job exists
    for fragment in fragments:
        assert fragment in text, (fragment, text[-2000:])


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    for command in ("make run", "make test", "snakemake --cores all --resources gpu=1",
                    "--profile profiles/slurm", "--configfile config/paper.yaml", "--report"):
        assert command in readme, command


def test_failed_writes_leave_no_output(tmp_path):
    from hiref import provenance

    target = tmp_path / "record.json"
    with pytest.raises(RuntimeError), provenance.atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("job died")
    assert list(tmp_path.iterdir()) == []
    provenance.write_json(target, {"a": 1})
    assert target.read_text().startswith("{")


def test_provenance_fields():
    from hiref import provenance

    versions = provenance.versions()
    assert versions["ott-jax"] == "0.6.0" and versions["POT"] == "0.9.7"
    assert provenance.peak_rss_mb() > 10
    assert provenance.device(uses_jax=True).startswith(("cpu", "gpu", "cuda", "tpu"))
    commit = provenance.git_commit(ROOT)
    assert commit is None or len(commit.split("-")[0]) == 40
