# Synthetic point clouds: the paper's 2-D pairs, Gaussian mixtures in 32 and 128-D and shared
# clusters in 30-D.
from hiref.datasets import synthetic

register_datasets(
    synthetic.PAIRS,
    "results/data/synthetic/{dataset}/n{n}_seed{seed}.npz",
    synthetic.DIMENSION,
)


rule simulate_points:
    output:
        "results/data/synthetic/{dataset}/n{n}_seed{seed}.npz",
    log:
        "results/logs/simulate_points/{dataset}/n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/simulate_points/{dataset}/n{n}_seed{seed}.tsv"
    wildcard_constraints:
        dataset="|".join(synthetic.PAIRS),
    group:
        "simulate"
    conda:
        "../envs/ot.yaml"
    script:
        "../scripts/simulate_points.py"
