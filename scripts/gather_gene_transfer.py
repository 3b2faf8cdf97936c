"""Snakemake script: per-run gene-transfer scores -> one summary table (CSV and Markdown),
with the paper's published cosines beside ours where the formula and estimator match.

input: the score CSVs of score_gene_transfer. output: csv, markdown.
"""

import pandas as pd

from hiref.provenance import atomic_path, job_log
from hiref.report.gene_transfer import summarise_transfer, transfer_markdown


def main(sm) -> None:
    scores = pd.concat([pd.read_csv(p) for p in sm.input], ignore_index=True)
    summary = summarise_transfer(scores)
    with atomic_path(sm.output.csv) as tmp:
        summary.to_csv(tmp, index=False)
    with atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(transfer_markdown(summary))


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
