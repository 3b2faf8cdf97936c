# One rule runs any method on any prepared dataset and writes one JSON record per run.


rule solve_ot:
    input:
        data=prepared_data,
    output:
        record="results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.json",
        matching="results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.npz",
    params:
        method=lambda wc: wc.method,
        settings=method_params,
    log:
        "results/logs/solve_ot/{experiment}/{dataset}/{method}/n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/solve_ot/{experiment}/{dataset}/{method}/n{n}_seed{seed}.tsv"
    resources:
        gpu=solver_gpus,
        mem_mb=config["resources"]["solve_mem_mb"],
        runtime=config["resources"]["solve_runtime"],
    conda:
        "../envs/ot.yaml"
    script:
        "../scripts/solve_ot.py"
