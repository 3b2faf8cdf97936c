"""A learned initializer's network, trained on the training pairs of one problem (rules
train_potential_model and train_plan_model)."""

from hiref import accelerator
from hiref.provenance import job_log
from hiref.studies.warmstart import steps

TRAIN = {"train_potential_model": steps.train_potential_model,
         "train_plan_model": steps.train_plan_model}

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    # A granted GPU is used, or the job stops; float32 matmuls at full precision.
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    TRAIN[sm.rule](sm.params.settings, sm.input.palettes, sm.input.split, sm.output[0])
