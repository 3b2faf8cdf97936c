"""Palettes of the configured images (rule extract_palettes)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    steps.extract_palettes(sm.params.settings, sm.input.get("images"), sm.output[0])
