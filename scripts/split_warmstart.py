"""Split by photo and the ordered pairs of each side (rule split_warmstart)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    steps.split(sm.params.settings, sm.input[0], sm.output[0])
