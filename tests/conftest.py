"""Shared helpers of the workflow tests: run Snakemake on this repository's Snakefile."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The defaults a user's project starts from (a test folder outside the checkout names it).
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"


def run_snakemake(*args: str, workdir: Path | None = None, timeout: int = 600, env=None):
    """``snakemake -s <repo>/Snakefile -d <workdir> args`` with this interpreter's Snakemake.

    Never in the checkout: without ``workdir`` it runs in a fresh temporary folder whose
    ``config/`` links to the repository's, so relative ``--configfile config/...`` paths work
    and nothing in the checkout's ``results/`` is read or written. ``env``: variables added
    to this process's environment.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="hiref-snakemake-") as tmp:
            (Path(tmp) / "config").symlink_to(ROOT / "config")
            return run_snakemake(*args, workdir=Path(tmp), timeout=timeout, env=env)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    return subprocess.run(
        [*cmd, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False, env={**os.environ, **(env or {})},
    )


@pytest.fixture
def write_config(tmp_path):
    """Writes a YAML config file in a temporary directory and returns its path."""

    def write(data: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return path

    return write
