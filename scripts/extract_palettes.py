"""Palettes of the configured images (rule extract_palettes)."""

from hiref.provenance import job_log
from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    steps.extract_palettes(sm.params.settings, sm.input.get("images"), sm.output[0])
