"""Shared helpers of the workflow tests: run Snakemake on this repository's Snakefile, and
run the long end-to-end workflow runs in the background while the other tests run."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The defaults a user's project starts from (a test folder outside the checkout names it).
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"
#: This process's environment when the session starts: background runs start from it, not
#: from whatever a test running meanwhile has monkeypatched.
SESSION_ENV = dict(os.environ)
#: The long end-to-end runs (see :func:`background_run`): fixture name -> function(folder).
BACKGROUND_RUNS: dict[str, Callable[[Path], Any]] = {}
#: Seconds each background run of this session took (printed with the slowest durations).
BACKGROUND_SECONDS: dict[str, float] = {}


def run_snakemake(*args: str, workdir: Path | None = None, timeout: int = 600, env=None,
                  environ: dict | None = None):
    """``snakemake -s <repo>/Snakefile -d <workdir> args`` with this interpreter's Snakemake.

    Never in the checkout: without ``workdir`` it runs in a fresh temporary folder whose
    ``config/`` links to the repository's, so relative ``--configfile config/...`` paths work
    and nothing in the checkout's ``results/`` is read or written. ``env``: variables added
    to ``environ`` (default: this process's environment now).
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="hiref-snakemake-") as tmp:
            (Path(tmp) / "config").symlink_to(ROOT / "config")
            return run_snakemake(*args, workdir=Path(tmp), timeout=timeout, env=env,
                                 environ=environ)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    base = os.environ if environ is None else environ
    return subprocess.run(
        [*cmd, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False, env={**base, **(env or {})},
    )


def background_run(function: Callable[[Path], Any]):
    """Makes ``function(folder)``, a long end-to-end run, a module fixture of its name.

    ``function`` does its run in a fresh folder and returns what the tests check (it must
    not read the environment or the working directory at call time: use ``SESSION_ENV`` and
    absolute paths). A session collecting tests that use such fixtures starts their runs at
    once, one after another in a background thread, and moves those tests after all the
    others: the runs (mostly one busy core: Snakemake's timed jobs run one at a time) then
    overlap the rest of the suite instead of following it. The fixture returns the
    function's result, or raises its error.
    """
    name = function.__name__
    if name in BACKGROUND_RUNS:  # fixtures are found by name: one name, one run
        raise ValueError(f"two background runs are named {name!r}")
    BACKGROUND_RUNS[name] = function

    @pytest.fixture(scope="module", name=name)
    def fixture(background_runs):
        return background_runs.result(name)

    return fixture


def uses_background_run(item) -> bool:
    return any(name in BACKGROUND_RUNS for name in getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(items):
    """The tests of background runs last (in their order), so their runs overlap the rest."""
    items[:] = ([item for item in items if not uses_background_run(item)]
                + [item for item in items if uses_background_run(item)])


class BackgroundRuns:
    """The background runs of one session, started in the order their tests come."""

    def __init__(self, names: list[str], tmp_path_factory):
        self._folders = tmp_path_factory
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                           thread_name_prefix="background")
        self._futures = {name: self._pool.submit(self._run, name) for name in names}

    def _run(self, name: str):
        start = time.perf_counter()
        try:
            return BACKGROUND_RUNS[name](self._folders.mktemp(name))
        finally:
            BACKGROUND_SECONDS[name] = time.perf_counter() - start

    def result(self, name: str):
        if name not in self._futures:  # a test the session did not see at collection
            self._futures[name] = self._pool.submit(self._run, name)
        return self._futures[name].result()

    def close(self):
        """Drops the runs not started (a session stopped early); waits for the running one."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def pytest_terminal_summary(terminalreporter):
    """What the background runs cost: their tests' durations only show the wait for them."""
    if BACKGROUND_SECONDS:
        terminalreporter.write_sep("=", "background runs (seconds, overlapping the other tests)")
        for name, seconds in sorted(BACKGROUND_SECONDS.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{seconds:.2f}s {name}")


@pytest.fixture(scope="session", autouse=True)
def background_runs(request, tmp_path_factory):
    """Starts the background runs that the session's tests use (see :func:`background_run`)."""
    names = dict.fromkeys(name for item in request.session.items
                          for name in getattr(item, "fixturenames", ())
                          if name in BACKGROUND_RUNS)
    # Create the session's base temporary folder here, before the background thread asks for
    # a folder: pytest creates it on first use without a lock, so the thread and the first
    # test's tmp_path could each create one, and a test then fails in its tmp_path setup
    # ("... is not a normalized and relative path") when the other thread's replaces it.
    tmp_path_factory.getbasetemp()
    runs = BackgroundRuns(list(names), tmp_path_factory)
    yield runs
    runs.close()


@pytest.fixture
def write_config(tmp_path):
    """Writes a YAML config file in a temporary directory and returns its path."""

    def write(data: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return path

    return write
