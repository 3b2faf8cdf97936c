"""A sharded hiref_refined run (rules/shard.smk) writes the record and .npz of the same run
solved by one solve_ot job, and a lost block result is redone alone."""

import json
import re

import numpy as np
import pytest
import yaml
from conftest import ROOT, SESSION_ENV, background_run, run_snakemake

# Sharded runs take low-rank levels; the single job takes them too (not the half-space
# levels that split "auto" takes in 2-D), so the two are one computation.
SETTINGS = {"hiref_refined": {"max_leaf": 32, "refine_sweeps": 1, "split": "lowrank"}}
# schedule [2, 16, 32]
CONFIG = {
    "experiments": {
        "single": {"datasets": ["halfmoon_scurve"], "n": [1024], "methods": ["hiref_refined"],
                   "settings": SETTINGS},
        # After the last low-rank level the block jobs solve leaves only, as the single job
        # does: the same computation, so the same permutation bit for bit.
        "sharded": {"datasets": ["halfmoon_scurve"], "n": [1024],
                    "methods": ["hiref_refined"], "settings": SETTINGS,
                    "shard": {"levels": 2, "blocks_per_job": 16}},
    },
}
RUN = "results/runs/{}/halfmoon_scurve/hiref_refined/n1024_seed0"
SHARDS = "results/shards/sharded/halfmoon_scurve/hiref_refined/n1024_seed0"


TARGETS = [RUN.format("sharded") + ".json", RUN.format("single") + ".json"]


@background_run
def sharded_run(folder):
    """The sharded and the single-job run (in the background: tests/conftest.py)."""
    (folder / "config").symlink_to(ROOT / "config")
    (folder / "shard.yaml").write_text(yaml.safe_dump(CONFIG))
    result = run_snakemake(*TARGETS, "--configfile", "shard.yaml", "--cores", "2",
                           "--resources", "gpu=0", workdir=folder, environ=SESSION_ENV)
    return folder, result


@pytest.mark.slow
def test_sharded_run_equals_the_single_job_and_redoes_only_lost_blocks(sharded_run):
    tmp_path, result = sharded_run
    assert result.returncode == 0, result.stderr[-4000:]
    log = result.stdout + result.stderr
    for rule, count in (("shard_first_levels", 1), ("shard_block", 2), ("shard_gather", 1),
                        ("solve_ot", 1)):
        assert log.count(f"(Rule: {rule})") == count, rule

    sharded, single = (json.loads((tmp_path / (RUN.format(e) + ".json")).read_text())
                       for e in ("sharded", "single"))
    with (np.load(tmp_path / (RUN.format("sharded") + ".npz")) as ours,
          np.load(tmp_path / (RUN.format("single") + ".npz")) as theirs):
        assert sorted(ours.files) == sorted(theirs.files)
        np.testing.assert_array_equal(ours["perm"], theirs["perm"])
    assert sharded.keys() == single.keys()
    assert sharded["cost_p1"] == single["cost_p1"] and sharded["cost_p2"] == single["cost_p2"]
    jobs = sharded["extra"]["shard"]
    assert (jobs["levels"], jobs["blocks"], jobs["block_jobs"]) == (2, 32, 2)
    peaks = [jobs["first_levels"]["peak_rss_mb"], jobs["merge"]["peak_rss_mb"],
             *(job["peak_rss_mb"] for job in jobs["block_results"])]
    assert sharded["peak_rss_mb"] == max(peaks) > 0
    assert sharded["seconds"] >= jobs["critical_path_seconds"] > 0

    # A block job killed mid-run leaves no result (results are written atomically), and the
    # gather never ran: the next run redoes that block job and the gather only.
    for path in (f"{SHARDS}/result1.npz", RUN.format("sharded") + ".json",
                 RUN.format("sharded") + ".npz"):
        (tmp_path / path).unlink()
    again = run_snakemake(TARGETS[0], "-n", "--configfile", "shard.yaml", workdir=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", again.stdout, re.MULTILINE))
    assert stats == {"shard_block": "1", "shard_gather": "1", "total": "2"}, again.stdout
    assert f"output: {SHARDS}/result1.npz" in again.stdout
