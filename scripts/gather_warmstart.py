"""Warm-start table of every problem, CSV and Markdown (rule gather_warmstart)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    steps.gather(sm.params.settings, dict(sm.input), sm.output.csv, sm.output.markdown)
