"""Run records are validated when read: an emptied, truncated or mistyped record stops the
table with the file named and the command that rebuilds it; written files are readable as
the user's umask allows; every job logs through one helper."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from hiref import provenance
from hiref.records import read_record
from hiref.report.tables import load_runs

ROOT = Path(__file__).resolve().parents[1]

GOOD = {
    "experiment": "synthetic", "dataset": "halfmoon_scurve", "method": "hiref", "n": 64, "d": 2,
    "seed": 0, "cost": "sqeuclidean", "status": "ok", "reason": None, "cost_p1": 0.5,
    "cost_p2": 0.3, "seconds": 0.1, "wall_seconds": 2.0, "peak_rss_mb": 300.0,
    "device": "cpu: test CPU (2 cores)", "params": {}, "extra": {}, "versions": {}, "git_commit": None,
    "compile_seconds": 1.5, "estimator": "our HiRef", "stand_in": False,
}


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_good_record_is_read(tmp_path):
    assert read_record(write(tmp_path / "r.json", GOOD)) == GOOD
    stand_in = {**GOOD, "stand_in": True}
    assert read_record(write(tmp_path / "t.json", stand_in))["stand_in"] is True
    skipped = {**GOOD, "status": "skipped", "reason": "n > max_n", "cost_p1": None,
               "cost_p2": None, "seconds": None, "compile_seconds": None}
    assert read_record(write(tmp_path / "s.json", skipped))["status"] == "skipped"


BROKEN = {
    "emptied": ({}, "missing field 'n'"),
    "truncated": (json.dumps(GOOD)[:40], "not readable as JSON"),
    "not an object": ([], "a record is a JSON object"),
    "float n": ({**GOOD, "n": 64.0}, "n = 64.0 is not Integral"),
    "text seed": ({**GOOD, "seed": "0"}, "seed = '0' is not Integral"),
    "ok without cost": ({**GOOD, "cost_p2": None}, "cost_p2 is null in a run with status 'ok'"),
    "unknown status": ({**GOOD, "status": "done"}, "status = 'done'"),
    "boolean seconds": ({**GOOD, "seconds": True}, "seconds = True"),
    "no stand_in flag": ({k: v for k, v in GOOD.items() if k != "stand_in"},
                         "missing field 'stand_in'"),
    "text stand_in": ({**GOOD, "stand_in": "no"}, "stand_in = 'no' is not bool"),
    "number stand_in": ({**GOOD, "stand_in": 0}, "stand_in = 0 is not bool"),
    # json.dumps writes NaN and Infinity, and json.load reads them back as floats.
    "NaN cost": ({**GOOD, "cost_p1": float("nan")},
                 "cost_p1 = nan is not a finite non-negative number"),
    "infinite cost": ({**GOOD, "cost_p2": float("inf")},
                      "cost_p2 = inf is not a finite non-negative number"),
    "negative cost": ({**GOOD, "cost_p1": -1.0},
                      "cost_p1 = -1.0 is not a finite non-negative number"),
    "negative seconds": ({**GOOD, "seconds": -0.5},
                         "seconds = -0.5 is not a finite non-negative number"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_record_names_file_and_rerun(tmp_path, case):
    data, fragment = BROKEN[case]
    path = write(tmp_path / "n64_seed0.json", data)
    with pytest.raises(ValueError) as err:
        read_record(path)
    message = str(err.value)
    assert str(path) in message and fragment in message
    assert f"snakemake {path} --force" in message


def test_table_refuses_an_emptied_record(tmp_path):
    good = write(tmp_path / "a.json", GOOD)
    emptied = write(tmp_path / "b.json", {})
    with pytest.raises(ValueError, match="b.json: not a complete run record"):
        load_runs([good, emptied])
    runs = load_runs([good])
    assert runs["n"].dtype.kind == "i" and runs["seed"].dtype.kind == "i"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        provenance.write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "record.json").stat().st_mode)
    assert mode == 0o666 & ~umask


def test_stand_in_flag_comes_from_the_prepared_pair(tmp_path):
    from hiref.datasets import save_pair
    from hiref.datasets.stand_ins.markers import make_marker

    xy = [[0.0, 1.0]]
    save_pair(tmp_path / "real.npz", xy, xy, meta=json.dumps({"n": 1}))
    save_pair(tmp_path / "synthetic.npz", xy, xy, seed=0)
    save_pair(tmp_path / "stand_in.npz", xy, xy,
              meta=json.dumps({"n": 1, "stand_in": make_marker("merfish", 0)}))
    assert not provenance.stand_in(tmp_path / "real.npz")
    assert not provenance.stand_in(tmp_path / "synthetic.npz")
    assert provenance.stand_in(tmp_path / "stand_in.npz")


@pytest.mark.parametrize("compressed", [False, True])
def test_a_skipped_run_reads_only_the_headers_of_its_pair(tmp_path, monkeypatch, compressed):
    """The workflow gives a run skipped for its size the smallest memory request (1 GB), so
    its job must not load the pair (ImageNet's is 10.5 GB): it reads the shapes only."""
    import numpy as np

    from hiref import datasets, records
    from hiref.methods import resolve_params

    rng = np.random.default_rng(0)
    path = tmp_path / "pair.npz"
    save = np.savez_compressed if compressed else np.savez
    save(path, x=rng.random((40, 3), dtype=np.float32), y=rng.random((50, 3), dtype=np.float32))

    def refuse(*_):
        raise AssertionError("a skipped run loaded its points")

    monkeypatch.setattr(datasets, "load_pair", refuse)
    record = tmp_path / "run.json"
    params = resolve_params("exact", {"max_n": 10}, "sqeuclidean")
    records.solve_and_record(data=path, record=record, matching=tmp_path / "run.npz",
                             experiment="e", dataset="pair", method="exact", params=params,
                             n=40, seed=0)
    written = json.loads(record.read_text())
    assert written["status"] == "skipped" and written["d"] == 3
    assert written["reason"].startswith("n = 40 > methods.exact.max_n = 10 (")
    with pytest.raises(ValueError, match="holds 40 x 50 points, fewer than n = 45"):
        records.solve_and_record(data=path, record=record, matching=tmp_path / "run.npz",
                                 experiment="e", dataset="pair", method="exact",
                                 params=params, n=45, seed=0)


def test_a_job_log_holds_everything_the_job_printed_with_times(tmp_path):
    path = tmp_path / "job.log"
    with provenance.job_log(path):
        print("to stdout")
        print("to stderr", file=sys.stderr)
        provenance.log("stamped")
    first, *middle, last = path.read_text().splitlines()
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] hiref \S+ from .*hiref, commit \S+, "
                        r"job started at [\d.]+", first)
    assert middle[:2] == ["to stdout", "to stderr"]
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] stamped", middle[2])
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] job done in [\d.]+ s", last)


def test_a_record_names_the_commit_its_job_started_with(tmp_path, monkeypatch):
    provenance._package_commit.cache_clear()
    try:
        monkeypatch.setattr(provenance, "_head", lambda path: "a" * 40)
        with provenance.job_log(tmp_path / "job.log"):
            # The checkout moves on while the job runs: the record keeps the starting commit.
            monkeypatch.setattr(provenance, "_head", lambda path: "b" * 40)
            assert provenance.git_commit() == "a" * 40
        assert f", commit {'a' * 40}," in (tmp_path / "job.log").read_text()
        assert provenance.git_commit(tmp_path) == "b" * 40  # an explicit path: read each time
    finally:
        provenance._package_commit.cache_clear()  # later tests read the real commit


def test_a_failed_job_logs_its_traceback(tmp_path):
    path = tmp_path / "job.log"
    with pytest.raises(ValueError, match="bad input"), provenance.job_log(path):
        raise ValueError("bad input")
    text = path.read_text()
    assert "Traceback" in text and "ValueError: bad input" in text
    assert re.search(r"job failed after [\d.]+ s\n$", text)


def test_every_script_logs_through_the_one_helper():
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        text = script.read_text()
        pattern = r"^with job_log\((sm|snakemake)\.log\[0\]\)"
        assert re.search(pattern, text, re.MULTILINE), script.name
        assert "redirect_std" not in text, script.name
