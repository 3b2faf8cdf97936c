"""Split by photo and the learned initializer (rule train_warmstart)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    steps.train(sm.params.settings, sm.input[0], sm.output.model, sm.output.split)
