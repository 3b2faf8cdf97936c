"""Where a result came from (package versions, git commit, device, peak memory, stand-in or
real data), and writing result files so that a crashed job never leaves one that looks
complete."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

#: Distributions whose versions every record carries.
PACKAGES = ("hiref", "jax", "jaxlib", "ott-jax", "POT", "numpy", "scipy", "torch", "snakemake")


def log(message: str) -> None:
    """Prints ``message`` on stderr as one line stamped with the time of day, flushed so that
    it shows in the job's log (see :func:`job_log`) while the job runs."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def job_log(path: str | os.PathLike):
    """Sends everything a workflow job prints to its rule's ``log:`` file ``path``: the one
    way every script in ``scripts/`` logs.

    stdout and stderr go to ``path``, line-buffered (progress shows while the job runs),
    after a first line naming the package that runs (the workflow's own ``src/``), its
    commit (read now, so that the job's record names the code it started with:
    :func:`git_commit`) and when the job started, in epoch seconds (tests compare jobs'
    spans); the last line gives the job's time, or an exception's traceback is written
    before it propagates, so the log says why a job failed. Lines a job prints itself go
    through :func:`log` (timestamped).
    """
    from hiref import __version__

    started = time.time()
    with (open(path, "w", buffering=1) as file, contextlib.redirect_stdout(file),
          contextlib.redirect_stderr(file)):
        log(f"hiref {__version__} from {Path(__file__).parent}, commit {git_commit()}, "
            f"job started at {started:.3f}")
        try:
            yield file
        except BaseException:
            traceback.print_exc()
            log(f"job failed after {time.time() - started:.1f} s")
            raise
        log(f"job done in {time.time() - started:.1f} s")


def versions(packages=PACKAGES) -> dict[str, str | None]:
    """Installed versions (``None`` when absent); read from metadata, so nothing is imported."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """``HEAD`` of the repository holding ``path``, suffixed ``-dirty`` when tracked files
    differ from it; ``None`` outside a repository (an installed wheel) or without git.

    The default is this package's source, so a job run in a working directory of its own
    (``snakemake -d``) still names the code's commit. That one is read once per process, at
    the first call (a job's log makes it as the job starts, :func:`job_log`): a record then
    names the code the job imported, even when the checkout moves on while the job runs."""
    return _package_commit() if path is None else _head(path)


@functools.cache
def _package_commit() -> str | None:
    return _head(Path(__file__).resolve().parent)


def _head(path: str | os.PathLike) -> str | None:
    def git(*args):
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def device(uses_jax: bool) -> str:
    """The processor a method ran on, for records and table captions: ``"gpu: <model>"`` when
    JAX runs on a GPU, else ``"cpu: <model> (<k> cores)"`` with the cores this process may use
    (a JAX method on a CPU runs on all of them; so do the host methods' BLAS calls)."""
    if uses_jax:
        import jax

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            return f"{dev.platform}: {dev.device_kind}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"cpu: {cpu_model()} ({cores} cores)"


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the platform's processor name."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    return platform.processor() or platform.machine()


def stand_in(prepared: str | os.PathLike) -> bool:
    """Whether a prepared pair (``results/data/<dataset>.npz``) was made from stand-in data:
    its ``meta`` carries the generator's marker under ``stand_in`` (docs/stand-ins.md)."""
    from hiref.datasets import load_meta
    from hiref.datasets.stand_ins.markers import meta_marker

    return meta_marker(load_meta(prepared)) is not None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yields a temporary path beside ``path``; renames it onto ``path`` only on success.

    ``os.replace`` within one directory is atomic, so readers (and Snakemake) see either no
    file or the complete file, never a partial one. The file gets the permissions any new
    file of the user gets (``0666`` less the umask), not ``mkstemp``'s private ``0600``, so a
    group sharing results can read it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def current_umask() -> int:
    """The process's umask (read by setting it, then restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data) -> None:
    """Writes ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_to_builtin) + "\n")


def _to_builtin(value):
    # NumPy and JAX scalars/arrays found in method diagnostics.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
