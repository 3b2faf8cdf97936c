"""Before and after in one run: a benchmark's cases, each in a fresh process per solver, the
previous commit's ``src/`` (unpacked from git) and the working tree's, one after the other,
so that both meet the same machine (docs/performance.md)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLVERS = ("before", "after")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def export_commit(commit: str, into: Path) -> Path:
    """``src/`` of ``commit`` unpacked under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run_cases(script: str, cases: list[str], before: str,
              solvers: tuple[str, ...] = SOLVERS) -> dict:
    """Runs ``script --one <case>`` for each case and solver (its last stdout line: one JSON
    record, to which ``solver`` is added) without a JAX compilation cache, so every first
    call compiles. Returns the machine, both commits, whether ``src/`` had uncommitted
    changes, and the records (``runs``)."""
    commit, head = git("rev-parse", before), git("rev-parse", "HEAD")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"before": export_commit(commit, Path(tmp)), "after": ROOT / "src"}
        for case in cases:
            for label in solvers:
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith("JAX_COMPILATION_CACHE")}
                env["PYTHONPATH"] = str(sources[label])
                print(f"running {case} ({label}) ...", file=sys.stderr, flush=True)
                done = subprocess.run([sys.executable, script, "--one", case], env=env,
                                      stdout=subprocess.PIPE, text=True, check=False)
                if done.returncode != 0:
                    sys.exit(f"{case} ({label}) failed with status {done.returncode}")
                record = {**json.loads(done.stdout.strip().splitlines()[-1]), "solver": label}
                print(json.dumps(record), file=sys.stderr, flush=True)
                records.append(record)
    return {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "python": platform.python_version()},
            "before_commit": commit, "after_commit": head,
            "after_tree_dirty": bool(git("status", "--porcelain", "src")), "runs": records}
