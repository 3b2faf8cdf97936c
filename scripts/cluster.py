"""Runs one method of the imbalanced-clustering study on one dataset, every seed (rule
cluster), or P²OT at every KL weight and seed (rule cluster_kl_sweep); one JSON record per
run."""

from hiref import accelerator
from hiref.provenance import job_log
from hiref.studies.clustering import methods

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    # The heads are JAX: a granted GPU is used, or the job stops; full-precision matmuls.
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    methods.cluster_and_record(
        data=sm.input.data, records=list(sm.output.records), dataset=sm.wildcards.dataset,
        method=sm.wildcards.get("method", "p2ot"), seeds=sm.params.seeds,
        config=sm.params.settings, kl_weights=sm.params.get("kl_weights"),
    )
