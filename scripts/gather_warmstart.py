"""Warm-start table of every problem, CSV and Markdown (rule gather_warmstart)."""

from hiref.provenance import job_log
from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    steps.gather(sm.params.settings, dict(sm.input), sm.output.csv, sm.output.markdown)
