"""Iterations and paired ratios to the cold start, every problem
(rule plot_warmstart_iterations)."""

from hiref.provenance import job_log
from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    steps.plot_iterations(dict(sm.input), [sm.output.png, sm.output.pdf])
