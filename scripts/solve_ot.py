"""Runs one method on one prepared dataset and writes its record (rule solve_ot)."""

import sys

from hiref import methods

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (injected by Snakemake)
wc = snakemake.wildcards  # noqa: F821
methods.solve_and_record(
    data=snakemake.input.data,  # noqa: F821
    record=snakemake.output.record,  # noqa: F821
    matching=snakemake.output.matching,  # noqa: F821
    experiment=wc.experiment,
    dataset=wc.dataset,
    method=snakemake.params.method,  # noqa: F821
    params=snakemake.params.settings,  # noqa: F821
    n=int(wc.n),
    seed=int(wc.seed),
)
