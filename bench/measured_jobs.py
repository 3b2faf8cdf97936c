"""The jobs of a workflow run beside their requests and their measured wall time and peak
memory (docs/stand-ins.md, "Every job at the real size").

    .venv/bin/python bench/measured_jobs.py -d /path/to/standins \\
        --configfile config/config.yaml config/paper.yaml config/stand_in.yaml \\
        --out profiles/measured_jobs.tsv --markdown bench/results/measured_jobs.md \\
        --earlier profiles/measured_jobs.tsv

A forced dry run (``snakemake -n --forceall``) in the working directory ``-d`` lists every
job of the configuration with its resources as the workflow computes them (the workflow
profile included); each job's ``benchmark:`` file there holds its measurement once it has
run. Measured jobs are written to ``--out`` (``hiref.report.jobs.COLUMNS``; the committed
``profiles/measured_jobs.tsv`` is what ``tests/test_requests.py`` checks the requests
against) and as Markdown; with ``--earlier``, jobs measured by an earlier run whose
benchmark files are not in ``-d`` keep that measurement (requests are today's); the jobs not measured are listed by rule. Exits 1 if a request
does not cover a measured job by ``hiref.report.jobs.HEADROOM``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dry_run(workdir: Path, configfiles: list[str]) -> str:
    """The forced dry run's output of the workflow in ``workdir`` (without its lock, so
    that a run still going there can be measured so far)."""
    command = [sys.executable, "-m", "snakemake", "-n", "--forceall", "--nolock", "--cores", "2",
               "--resources", "gpu=0", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
               "--configfile", *[str(ROOT / f) for f in configfiles]]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"dry run failed:\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def main() -> None:
    import pandas as pd

    from hiref.report import jobs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-d", "--workdir", type=Path, required=True)
    parser.add_argument("--configfile", nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--earlier", type=Path, default=None,
                        help="a table this script wrote before (e.g. profiles/measured_jobs.tsv): "
                             "its measurements stand for jobs with no benchmark file in -d")
    args = parser.parse_args()
    local = jobs.local_rules(ROOT)
    planned = jobs.planned_jobs(dry_run(args.workdir, args.configfile), local)
    earlier = (None if args.earlier is None
               else pd.read_csv(args.earlier, sep="\t", keep_default_na=False))
    measured = jobs.jobs_table(planned, args.workdir, earlier)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    measured.to_csv(args.out, sep="\t", index=False)
    waiting = sorted({job.rule for job in planned} - set(measured["rule"]))
    counts = {rule: sum(job.rule == rule for job in planned) for rule in
              dict.fromkeys(job.rule for job in planned)}
    done = measured["rule"].value_counts().to_dict()
    text = (jobs.markdown(measured) + "\n\nMeasured jobs per rule: "
            + ", ".join(f"{rule} {done.get(rule, 0)} of {count}" for rule, count in counts.items())
            + (f". Rules with no measured job: {', '.join(waiting)}." if waiting else ".") + "\n")
    print(text)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    problems = jobs.short_falls(measured, planned)
    if problems:
        raise SystemExit("requests below the measured use:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
