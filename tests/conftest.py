"""Shared helpers of the workflow tests: run Snakemake on this repository's Snakefile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_snakemake(*args: str, workdir: Path | None = None, timeout: int = 600):
    """``snakemake -s <repo>/Snakefile [-d workdir] args`` with this interpreter's Snakemake."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    if workdir is not None:
        cmd += ["-d", str(workdir)]
    return subprocess.run(
        [*cmd, *args], cwd=workdir or ROOT, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False,
    )


@pytest.fixture
def write_config(tmp_path):
    """Writes a YAML config file in a temporary directory and returns its path."""

    def write(data: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return path

    return write
