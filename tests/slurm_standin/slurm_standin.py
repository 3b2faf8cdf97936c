#!/usr/bin/env python3
"""Stand-in for the SLURM commands the Snakemake SLURM executor calls (sbatch, sacct, squeue,
scontrol, sinfo, sacctmgr, sshare, scancel), installed on PATH under those names by the tests.

sbatch appends its arguments (and the job script it reads from stdin, if any) as one JSON
line to $SLURM_STANDIN_LOG and runs nothing: it refuses the job (exit status 1), so
Snakemake marks it failed at once and stops after its first round of submissions, without
waiting on status queries. sacct/squeue answer every recorded job as FAILED.
sacctmgr/sshare list $SLURM_STANDIN_ACCOUNT as the user's account.
"""

import json
import os
import sys
from pathlib import Path

LOG = Path(os.environ["SLURM_STANDIN_LOG"])
FIRST_JOB_ID = 1000


def submitted() -> list[dict]:
    if not LOG.exists():
        return []
    return [json.loads(line) for line in LOG.read_text().splitlines()]


def sbatch(args: list[str]) -> None:
    script = sys.stdin.read() if "/dev/stdin" in args else None
    job_id = FIRST_JOB_ID + len(submitted())
    with LOG.open("a") as fh:
        fh.write(json.dumps({"id": job_id, "args": args, "script": script}) + "\n")
    sys.exit("slurm_standin: job recorded, not run")


def status_lines() -> str:
    return "".join(f"{job['id']}|FAILED\n" for job in submitted())


def main() -> None:
    command, args = Path(sys.argv[0]).name, sys.argv[1:]
    if command == "sbatch":
        sbatch(args)
    elif command in ("sacct", "squeue"):
        sys.stdout.write(status_lines())
    elif command == "scontrol":  # `scontrol show config`: nothing the executor needs
        print("MinJobAge = 300 sec")
    elif command == "sinfo":  # `sinfo -o %P`: a default partition
        print("PARTITION\ncpu*")
    elif command == "scancel":  # nothing runs, nothing to cancel
        pass
    elif command in ("sacctmgr", "sshare"):  # the user's accounts
        print(os.environ.get("SLURM_STANDIN_ACCOUNT", "standin_account"))
    else:
        sys.exit(f"slurm_standin: unknown command {command}")


if __name__ == "__main__":
    main()
