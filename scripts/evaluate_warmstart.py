"""Sinkhorn from every initializer on the held-out pairs of one problem
(rule evaluate_warmstart)."""

from hiref import accelerator
from hiref.provenance import job_log
from hiref.studies.warmstart import initializers, steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    # A granted GPU is used, or the job stops; float32 matmuls at full precision.
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    models = {name: sm.input.get(name) for name in initializers.LEARNED if sm.input.get(name)}
    steps.evaluate(sm.params.settings, sm.input.palettes, sm.input.split, models,
                   sm.output.evaluation, sm.output.potentials)
