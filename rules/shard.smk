# Sharded HiRef runs (docs/cluster.md, "Sharded HiRef runs"): an experiment's `shard`
# setting turns each of its hiref_refined runs into a first-levels job, block jobs (each
# blocks_per_job blocks) and a gather job that writes the run's record and .npz, the files
# solve_ot writes for an unsharded run (hence the ruleorder). The block count follows from
# the run's schedule, so every job is in the DAG from the start (dry runs show them all).

SHARD_DIR = "results/shards/{experiment}/{dataset}/{method}/n{n}_seed{seed}"
# Only the sharded experiments' hiref_refined runs (a pattern matching nothing when none).
SHARDED = {
    "experiment": "|".join(map(re.escape, sharded_experiments())) or "(?!)",
    "method": workflow_config.SHARDED_METHOD,
}


ruleorder: shard_gather > solve_ot


rule shard_first_levels:
    input:
        data=prepared_data,
    output:
        split=f"{SHARD_DIR}/split.npz",
        blocks=directory(f"{SHARD_DIR}/blocks"),
    log:
        "results/logs/shard_first_levels/{experiment}/{dataset}/{method}/n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/shard_first_levels/{experiment}/{dataset}/{method}/n{n}_seed{seed}.tsv"
    wildcard_constraints:
        **SHARDED,
    conda:
        "../envs/ot.yaml"
    threads: solve_threads
    resources:
        gpu=solve_gpu,
        mem_mb=solve_mem_mb,
        runtime=solve_runtime,
    params:
        settings=method_params,
        shard=shard_setting,
    script:
        "../scripts/shard_first_levels.py"


rule shard_block:
    input:
        split=f"{SHARD_DIR}/split.npz",
        blocks=f"{SHARD_DIR}/blocks",
    output:
        result=f"{SHARD_DIR}/result{{job}}.npz",
    log:
        "results/logs/shard_block/{experiment}/{dataset}/{method}/n{n}_seed{seed}_job{job}.log",
    benchmark:
        "results/benchmarks/shard_block/{experiment}/{dataset}/{method}/n{n}_seed{seed}_job{job}.tsv"
    wildcard_constraints:
        **SHARDED,
        job=r"\d+",
    conda:
        "../envs/ot.yaml"
    threads: solve_threads
    resources:
        gpu=solve_gpu,
        mem_mb=shard_block_mem_mb,
        runtime=shard_block_runtime,
    params:
        settings=method_params,
        shard=shard_setting,
    script:
        "../scripts/shard_block.py"


rule shard_gather:
    input:
        data=prepared_data,
        split=f"{SHARD_DIR}/split.npz",
        results=shard_results,
    output:
        record="results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.json",
        matching="results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.npz",
    log:
        "results/logs/shard_gather/{experiment}/{dataset}/{method}/n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/shard_gather/{experiment}/{dataset}/{method}/n{n}_seed{seed}.tsv"
    wildcard_constraints:
        **SHARDED,
    conda:
        "../envs/ot.yaml"
    threads: solve_threads
    resources:
        gpu=solve_gpu,
        mem_mb=solve_mem_mb,
        runtime=solve_runtime,
    params:
        method=lambda wc: wc.method,
        settings=method_params,
        shard=shard_setting,
    script:
        "../scripts/shard_gather.py"
