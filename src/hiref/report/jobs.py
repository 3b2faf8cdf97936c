"""Every job of a workflow run beside what it asks the scheduler for and what it used.

Snakemake's dry run (``snakemake -n``) prints each planned job with its rule, outputs,
benchmark file and resources (``mem_mb``, ``runtime`` in minutes), exactly as a cluster
executor would submit it; each rule's ``benchmark:`` file records the job's wall seconds and
peak resident memory once it has run. :func:`planned_jobs` reads the first,
:func:`read_benchmark` the second, and :func:`jobs_table` sets them side by side: the table
of measured jobs (``profiles/measured_jobs.tsv``, docs/stand-ins.md) from which the
requests are checked (``tests/test_requests.py``: every request at least
:data:`HEADROOM` times the measured peak).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: A request must cover the measured peak memory and wall time by this factor.
HEADROOM = 1.25
#: Columns of the measured-jobs table (``profiles/measured_jobs.tsv``).
COLUMNS = ["rule", "output", "wildcards", "wall_s", "peak_rss_mib", "mean_load",
           "mem_mb_request", "runtime_request_min"]

_JOB_HEADER = re.compile(r"^\s*(local)?rule (\w+):$")  # indented inside a group job
_RULE_DECLARATION = re.compile(r"^\s*rule (\w+):")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_RESOURCE = re.compile(r"(\w+)=([^,]+)")


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: its rule, first output (the job's name here), benchmark file,
    wildcards as printed, the requests (MiB and minutes; None where not set) and whether
    it runs where Snakemake runs (a local rule, never submitted to a cluster)."""

    rule: str
    output: str
    benchmark: str | None
    wildcards: str
    mem_mb: int | None
    runtime: int | None
    local: bool = False


def local_rules(workflow: Path) -> set[str]:
    """Names of the rules declared ``localrule: True`` in the workflow at ``workflow`` (its
    ``Snakefile`` and ``rules/*.smk``; a dry run prints them as any other rule)."""
    workflow = Path(workflow)
    names, current = set(), None
    for path in [workflow / "Snakefile", *sorted((workflow / "rules").glob("*.smk"))]:
        for line in Path(path).read_text().splitlines():
            header = _RULE_DECLARATION.match(line)
            if header:
                current = header.group(1)
            elif line.strip() == "localrule: True" and current:
                names.add(current)
    return names


def planned_jobs(dry_run: str, local: set[str] = frozenset()) -> list[PlannedJob]:
    """The jobs of a ``snakemake -n`` output (its standard error and output together), in
    order; a job without an output (the target rule ``all``) is left out. ``local``: names
    of local rules (:func:`local_rules`)."""
    jobs, current = [], None
    for line in dry_run.splitlines():
        header = _JOB_HEADER.match(line)
        if header:
            current = {"rule": header.group(2), "local": bool(header.group(1))}
            jobs.append(current)
            continue
        field = _FIELD.match(line)
        if current is not None and field:
            current[field.group(1)] = field.group(2)
        elif not line.startswith(" "):
            current = None
    planned = []
    for job in jobs:
        if "output" not in job:
            continue
        resources = dict(_RESOURCE.findall(job.get("resources", "")))
        planned.append(PlannedJob(
            rule=job["rule"], output=job["output"].split(", ")[0],
            benchmark=job.get("benchmark"), wildcards=job.get("wildcards", ""),
            mem_mb=int(resources["mem_mb"]) if "mem_mb" in resources else None,
            runtime=int(resources["runtime"]) if "runtime" in resources else None,
            local=job["local"] or job["rule"] in local))
    return planned


@dataclass(frozen=True)
class Measurement:
    """A benchmark file's record: wall seconds, peak resident memory (MiB, Snakemake's
    ``max_rss``) and the mean CPU load of the job (percent of one core)."""

    wall_s: float
    peak_rss_mib: float
    mean_load: float


def read_benchmark(path: Path) -> Measurement | None:
    """The last record of a Snakemake benchmark file, or None if the job has not run.

    Raises ``ValueError`` naming the file when it is not a benchmark record (a job killed
    while writing it, or another file under that name)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path, sep="\t")
        row = table.iloc[-1]
        values = Measurement(float(row["s"]), float(row["max_rss"]), float(row["mean_load"]))
    except (KeyError, IndexError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not a Snakemake benchmark record ({err}); delete it and "
                         "rerun the job") from err
    if not all(math.isfinite(v) and v >= 0 for v in (values.wall_s, values.peak_rss_mib)):
        raise ValueError(f"{path}: wall time or peak memory is not a finite non-negative "
                         f"number ({values}); delete it and rerun the job")
    return values


def jobs_table(jobs: list[PlannedJob], workdir: Path,
               earlier: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row (:data:`COLUMNS`) per job of ``jobs`` whose benchmark file under ``workdir``
    holds a measurement or, failing that, that ``earlier`` (a :data:`COLUMNS` table of an
    earlier run, on another machine or in a working directory since removed) measured.
    Requests are always today's, from ``jobs``."""
    before = {} if earlier is None else {row.output: row for row in earlier.itertuples()}
    rows = []
    for job in jobs:
        measured = job.benchmark and read_benchmark(Path(workdir) / job.benchmark)
        if not measured and job.output in before:
            row = before[job.output]
            measured = Measurement(row.wall_s, row.peak_rss_mib, row.mean_load)
        if measured:
            rows.append({"rule": job.rule, "output": job.output, "wildcards": job.wildcards,
                         "wall_s": measured.wall_s, "peak_rss_mib": measured.peak_rss_mib,
                         "mean_load": measured.mean_load, "mem_mb_request": job.mem_mb,
                         "runtime_request_min": job.runtime})
    return pd.DataFrame(rows, columns=COLUMNS)


def short_falls(measured: pd.DataFrame, jobs: list[PlannedJob]) -> list[str]:
    """Every way the requests of ``jobs`` fail to cover ``measured`` (a :data:`COLUMNS`
    table): a measured job the workflow no longer plans, a request missing, or below
    :data:`HEADROOM` times the measured peak memory or wall time. Local rules (light jobs
    that never reach a scheduler) need no request. Empty when all hold."""
    planned = {job.output: job for job in jobs}
    problems = []
    for row in measured.itertuples():
        job = planned.get(row.output)
        if job is None:
            problems.append(f"{row.output}: measured but no longer a job of the workflow")
            continue
        if job.local:
            continue
        if job.mem_mb is None or job.mem_mb < HEADROOM * row.peak_rss_mib:
            problems.append(f"{row.output} ({job.rule}): mem_mb {job.mem_mb} < {HEADROOM} x "
                            f"measured peak {row.peak_rss_mib:.0f} MiB")
        if job.runtime is None or 60 * job.runtime < HEADROOM * row.wall_s:
            problems.append(f"{row.output} ({job.rule}): runtime {job.runtime} min < "
                            f"{HEADROOM} x measured {row.wall_s:.0f} s")
    return problems


def markdown(measured: pd.DataFrame) -> str:
    """The measured jobs as a Markdown table: wall time, peak memory, the requests and how
    much of each request the job used ("local" for a local rule, which requests nothing)."""
    local = measured["mem_mb_request"].isna()
    shown = pd.DataFrame({
        "rule": measured["rule"], "job": measured["wildcards"].replace("", "—"),
        "wall": measured["wall_s"].map(_duration),
        "peak RSS": measured["peak_rss_mib"].map(lambda v: f"{v / 1024:.2f} GiB"),
        "CPU %": measured["mean_load"].map(lambda v: f"{v:.0f}"),
        "mem_mb request": ["local" if lo else f"{v:.0f}"
                           for lo, v in zip(local, measured["mem_mb_request"])],
        "peak / request": ["—" if lo else f"{p / r:.0%}" for lo, p, r in
                           zip(local, measured["peak_rss_mib"], measured["mem_mb_request"])],
        "runtime request": ["local" if lo else f"{v:.0f} min"
                            for lo, v in zip(local, measured["runtime_request_min"])],
    })
    return shown.sort_values(["rule", "job"], kind="stable").to_markdown(index=False)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
