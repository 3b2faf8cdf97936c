"""Runs one method on one prepared dataset and writes its record (rule solve_ot)."""

from hiref import accelerator, records
from hiref.provenance import job_log

sm = snakemake  # noqa: F821 (the object Snakemake injects)
# The log's first line names the hiref that runs (the workflow's own src/: rules/common.smk
# puts it first on the path) and when the job started (solver jobs never overlap locally).
with job_log(sm.log[0]):
    # The rule grants a GPU only to JAX methods that run (not to skipped runs).
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    records.solve_and_record(
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
