"""Colour transfers, cold and warm start side by side (rule plot_warmstart_transfer)."""

from hiref.provenance import job_log
from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    steps.plot_transfer(
        sm.params.settings, sm.input.palettes, sm.input.evaluation, sm.input.potentials,
        sm.output[0],
    )
