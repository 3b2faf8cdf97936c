"""Colour transfers, cold and warm start side by side (rule plot_warmstart_transfer)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    steps.plot_transfer(
        sm.params.settings, sm.input.palettes, sm.input.evaluation, sm.input.potentials,
        sm.output[0],
    )
