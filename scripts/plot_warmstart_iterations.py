"""Iterations and paired ratios to the cold start, every problem
(rule plot_warmstart_iterations)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    steps.plot_iterations(dict(sm.input), [sm.output.png, sm.output.pdf])
