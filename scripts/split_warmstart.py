"""Split by photo and the ordered pairs of each side (rule split_warmstart)."""

from hiref.provenance import job_log
from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    steps.split(sm.params.settings, sm.input[0], sm.output[0])
