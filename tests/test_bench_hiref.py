"""`bench/bench_hiref.py`'s time-cost trade-off: HiRef's settings and BSP-OT's plan counts
side by side, the points that no other beats in both time and cost marked."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("bench_hiref", ROOT / "bench" / "bench_hiref.py")
bench_hiref = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_hiref)


def record(setting: str, seconds: float, cost: float) -> dict:
    """A HiRef record of one (pair, n) sharing BSP-OT runs with 4 and 16 plans."""
    return {"pair": "p", "n": 8, "split": "halfspace", "setting": setting,
            "hiref_seconds": seconds, "hiref_cost": cost,
            "bspot4_seconds": 0.1, "bspot4_cost": 1.2, "bspot16_seconds": 0.6, "bspot16_cost": 1.1}


def front(table: str) -> dict[str, bool]:
    """Each row's setting -> whether the table marks it on the front."""
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    return {cells[3].strip(): cells[6].strip() == "yes" for cells in rows}


def test_tradeoff_marks_points_nothing_beats_in_both():
    table = bench_hiref.tradeoff_table([record("default", 0.5, 1.05),
                                        record("refine_tol=0", 2.0, 1.0)], [4, 16])
    assert front(table) == {"4 plans": True, "halfspace, default": True,
                            "16 plans": False, "halfspace, refine_tol=0": True}
    times = [float(line.split("|")[5]) for line in table.splitlines()[2:]]
    assert times == sorted(times)
    # A HiRef setting slower and costlier than BSP-OT-16 falls off the front.
    table = bench_hiref.tradeoff_table([record("default", 0.7, 1.15)], [4, 16])
    assert front(table)["halfspace, default"] is False


def test_settings_are_read_as_config_values():
    assert bench_hiref.parse_setting("default") == {}
    assert bench_hiref.parse_setting("max_leaf=32,refine_tol=3e-5,split=auto") == {
        "max_leaf": 32, "refine_tol": 3e-5, "split": "auto"}
    assert bench_hiref.parse_setting("max_leaf=none") == {"max_leaf": None}
    with pytest.raises(ValueError, match="is not name=value"):
        bench_hiref.parse_setting("max_leaf")


def test_tradeoff_run_records_each_setting(tmp_path):
    """A small run as documented: one record per setting, BSP-OT's cost of every run."""
    out = tmp_path / "tradeoff.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_hiref.py"), "--pairs", "uniform_squares",
         "--sizes", "256", "--exact-max", "256", "--settings", "default", "refine_tol=0,max_leaf=32",
         "--bspot-plans", "4", "--repeats", "2", "--tradeoff", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert [(r["config"]["refine_tol"], r["config"]["max_leaf"]) for r in runs] == [
        (1e-4, 64), (0, 32)]
    for r in runs:
        assert len(r["bspot4_costs"]) == 2 and r["hiref_cost"] >= r["exact_cost"] * (1 - 1e-9)
    assert "| uniform_squares | 256 | exact | SciPy |" in proc.stdout
