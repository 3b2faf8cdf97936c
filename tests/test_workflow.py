"""The workflow's files are formatted, bad configurations stop it before any job, and its
writes and provenance are sound. (The documented commands are tested in tests/test_docs.py.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_snakemake


def test_snakemake_files_are_formatted():
    """snakefmt (line length 100, pyproject.toml) leaves the Snakefile and rules/ unchanged;
    `snakefmt Snakefile rules` fixes them (`make lint` checks the same)."""
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    proc = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


BAD_CONFIGS = {
    # A schema violation, an experiment setting and a method label: each stops the run while
    # the workflow is parsed, with one line naming the key path and no schema dump.
    "unknown top-level key": ({"colour": "red"},
                              "config: Additional properties are not allowed ('colour'"),
    "experiment setting": ({"experiments": {"synthetic": {"settings": {"hiref": {"max_rank":
                                                                                  "big"}}}}},
                           "experiments.synthetic.settings.hiref.max_rank: 'big' is not of"),
    "label": ({"experiments": {"synthetic": {"methods": ["minibatch-0"]}}},
              "experiments.synthetic.methods[minibatch-0].batch_size: 0 is less than"),
    # Settings each valid alone whose schedule the experiment's n does not admit.
    "schedule for n": ({"run": ["synthetic"], "experiments": {"synthetic": {
        "n": [64, 1024], "settings": {"hiref_refined": {"depth": 2, "max_rank": 2,
                                                        "max_leaf": 4}}}}},
                       ("experiments.synthetic: hiref_refined at n = 64: no schedule of at "
                        "most 1 ranks <= 2 brings 64 points down to leaves of <= 4; raise")),
    "authors' schedule for n": ({"run": ["synthetic"], "experiments": {"synthetic": {
        "n": [1000], "settings": {"hiref": {"hierarchy_depth": 1, "max_rank": 2,
                                            "max_q": 8}}}}},
                                "experiments.synthetic: hiref at n = 1000: no schedule"),
    # Sharding (rules/shard.smk): only our solver, and no deeper than its schedule.
    "shard on another method": ({"experiments": {"cut": {
        "datasets": ["halfmoon_scurve"], "methods": ["hiref", "exact"],
        "shard": {"levels": 1}}}},
                                ("experiments.cut.shard: only hiref_refined runs (our solver) "
                                 "can be sharded")),
    "shard below the leaves": ({"experiments": {"cut": {
        "datasets": ["halfmoon_scurve"], "n": [1024], "methods": ["hiref_refined"],
        "shard": {"levels": 3}}}},
                               ("experiments.cut.shard.levels = 3: hiref_refined at n = 1024 "
                                "has the schedule [8, 128], 1 low-rank level(s)")),
    "shard setting": ({"experiments": {"synthetic": {"shard": {"levels": 1, "per_job": 2}}}},
                      "experiments.synthetic.shard: Additional properties are not allowed"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configs_are_rejected_before_any_job(case, write_config):
    change, fragment = BAD_CONFIGS[case]
    # Merged over config/config.yaml (the Snakefile's configfile), as a user's file would be.
    result = run_snakemake("-n", "--configfile", str(write_config(change)))
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Building DAG" not in text  # rejected while parsing, before any job exists
    assert fragment in text, text[-2000:]
    assert "$defs" not in text and len(text.splitlines()) < 15, text  # never the schema


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
