# One rule runs any method on any prepared dataset and writes one JSON record per run.
# Its threads, GPUs, memory, wall time and group are functions of the run (rules/common.smk).


rule solve_ot:
    input:
        data=prepared_data,
    output:
        record="results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.json",
        matching="results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.npz",
    log:
        "results/logs/solve_ot/{experiment}/{dataset}/{method}/n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/solve_ot/{experiment}/{dataset}/{method}/n{n}_seed{seed}.tsv"
    group:
        solve_group
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
    script:
        "../scripts/solve_ot.py"
