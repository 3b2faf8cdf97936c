"""Runs one method on one prepared dataset and writes its record (rule solve_ot)."""

from contextlib import redirect_stderr

from hiref import methods

sm = snakemake  # noqa: F821 (the object Snakemake injects)
# Line-buffered: progress lines reach the log while a long solve runs.
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log):
    methods.solve_and_record(
        data=sm.input.data,
        record=sm.output.record,
        matching=sm.output.matching,
        experiment=sm.wildcards.experiment,
        dataset=sm.wildcards.dataset,
        method=sm.params.method,
        params=sm.params.settings,
        n=int(sm.wildcards.n),
        seed=int(sm.wildcards.seed),
    )
