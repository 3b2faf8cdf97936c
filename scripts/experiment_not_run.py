"""Snakemake script: the table of an experiment that cannot run here, saying why.

params: message (the reason and what to set). output: csv (experiment, status, reason),
markdown (the message).
"""

import csv

from hiref.provenance import atomic_path, job_log


def main(sm) -> None:
    experiment, message = sm.wildcards.experiment, sm.params.message
    with atomic_path(sm.output.csv) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["experiment", "status", "reason"])
        writer.writerow([experiment, "not run", message])
    with atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(f"# {experiment}: not run\n\n{message}\n")
    print(message)


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
