"""The first levels of a sharded HiRef run: the manifest and the block files (rule
shard_first_levels)."""

from hiref import accelerator, shard_runs
from hiref.provenance import job_log

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    shard_runs.first_levels(
        data=sm.input.data,
        split=sm.output.split,
        blocks_dir=sm.output.blocks,
        params=sm.params.settings,
        levels=sm.params.shard["levels"],
        blocks_per_job=sm.params.shard["blocks_per_job"],
        n=int(sm.wildcards.n),
        seed=int(sm.wildcards.seed),
    )
