"""Sinkhorn from every initializer on the held-out pairs (rule evaluate_warmstart)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref import accelerator
from hiref.studies.warmstart import steps

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log), redirect_stdout(log):
    # A granted GPU is used, or the job stops; float32 matmuls at full precision.
    accelerator.require_gpu(sm.resources.get("gpu", 0), accelerator.jax_gpus(), "jax")
    accelerator.configure_jax()
    steps.evaluate(
        sm.params.settings, sm.input.palettes, sm.input.model, sm.input.split,
        sm.output.evaluation, sm.output.potentials,
    )
