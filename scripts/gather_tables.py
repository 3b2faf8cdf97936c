"""Run records of one experiment -> per-run CSV, summary CSV and Markdown (gather_tables)."""

import sys

from hiref.provenance import atomic_path
from hiref.report import tables

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (injected by Snakemake)
runs = tables.load_runs(snakemake.input.records)  # noqa: F821
summary = tables.summarise(runs, snakemake.params.paper)  # noqa: F821
for frame, path in ((runs, snakemake.output.runs), (summary, snakemake.output.csv)):  # noqa: F821
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
with atomic_path(snakemake.output.markdown) as tmp:  # noqa: F821
    tmp.write_text(tables.to_markdown(summary, snakemake.params.cost))  # noqa: F821
