"""One block job of a sharded HiRef run: its blocks solved, its result file (rule
shard_block)."""

from hiref import accelerator, shard_runs
from hiref.provenance import job_log

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    accelerator.start_jax_job(sm.resources.get("gpu", 0))
    shard_runs.block(
        split=sm.input.split,
        blocks_dir=sm.input.blocks,
        result=sm.output.result,
        params=sm.params.settings,
        levels=sm.params.shard["levels"],
        seed=int(sm.wildcards.seed),
        job=int(sm.wildcards.job),
    )
