"""The gather of a sharded HiRef run: the block results merged, the run's record and .npz
(rule shard_gather; the files solve_ot writes for an unsharded run)."""

from hiref import accelerator, shard_runs
from hiref.provenance import job_log

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    shard_runs.gather(
        data=sm.input.data,
        split=sm.input.split,
        results=list(sm.input.results),
        record=sm.output.record,
        matching=sm.output.matching,
        experiment=sm.wildcards.experiment,
        dataset=sm.wildcards.dataset,
        method=sm.params.method,
        params=sm.params.settings,
        levels=sm.params.shard["levels"],
        blocks_per_job=sm.params.shard["blocks_per_job"],
        n=int(sm.wildcards.n),
        seed=int(sm.wildcards.seed),
    )
