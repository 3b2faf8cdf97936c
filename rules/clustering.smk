# Imbalanced clustering (docs/imbalanced-clustering.md): P²OT pseudo-labels against balanced
# OT (SeLa), k-means and a supervised head on long-tailed data. Config: `imbalanced_clustering`
# (config/schema.yaml); package: hiref.studies.clustering. Names and input functions:
# rules/clustering_common.smk.


include: "clustering_common.smk"


rule prepare_clustering_data:
    input:
        unpack(clustering_data_inputs),
    output:
        "results/clustering/data/{dataset}.npz",
    log:
        "results/logs/prepare_clustering_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_clustering_data/{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(clustering_datasets.DATASETS),
    conda:
        "../envs/clustering.yaml"
    params:
        settings=lambda wc: CLUSTERING["data"][wc.dataset],
    script:
        "../scripts/prepare_clustering_data.py"


rule cluster:
    input:
        data="results/clustering/data/{dataset}.npz",
    output:
        records=expand(
            "results/clustering/runs/{{dataset}}/{{method}}/seed{seed}.json",
            seed=CLUSTERING["seeds"],
        ),
    log:
        "results/logs/cluster/{dataset}/{method}.log",
    benchmark:
        "results/benchmarks/cluster/{dataset}/{method}.tsv"
    wildcard_constraints:
        dataset="|".join(clustering_datasets.DATASETS),
        method="|".join(clustering_methods.METHODS),
    conda:
        "../envs/clustering.yaml"
    resources:
        gpu=cluster_gpus,
    params:
        seeds=CLUSTERING["seeds"],
        settings=lambda wc: method_settings(wc.method),
    script:
        "../scripts/cluster.py"


if KL_SWEEP:

    rule cluster_kl_sweep:
        input:
            data="results/clustering/data/{dataset}.npz",
        output:
            records=kl_sweep_records(),
        log:
            "results/logs/cluster_kl_sweep/{dataset}.log",
        benchmark:
            "results/benchmarks/cluster_kl_sweep/{dataset}.tsv"
        wildcard_constraints:
            dataset="|".join(clustering_datasets.DATASETS),
        conda:
            "../envs/clustering.yaml"
        resources:
            gpu=config["resources"]["gpu"],
        params:
            seeds=CLUSTERING["seeds"],
            kl_weights=KL_SWEEP,
            settings=method_settings("p2ot"),
        script:
            "../scripts/cluster.py"

    rule plot_kl_sweep:
        input:
            records=[r for d in CLUSTERING["datasets"] for r in kl_sweep_records(d)],
            table=f"{CLUSTERING_TABLE}.csv",
        output:
            png=report(
                KL_SWEEP_OUTPUTS["figure"][0],
                caption="../report/imbalanced_clustering_kl_weight.rst",
                category="Imbalanced clustering",
                labels={"figure": "P²OT against its KL weight"},
            ),
            pdf=KL_SWEEP_OUTPUTS["figure"][1],
            csv=KL_SWEEP_OUTPUTS["table"][0],
            markdown=KL_SWEEP_OUTPUTS["table"][1],
        log:
            "results/logs/plot_kl_sweep.log",
        benchmark:
            "results/benchmarks/plot_kl_sweep.tsv"
        # Light step: on a cluster it runs where Snakemake runs, not as a job.
        localrule: True
        conda:
            "../envs/clustering.yaml"
        script:
            "../scripts/plot_kl_sweep.py"


rule gather_clustering_table:
    input:
        records=clustering_records,
    output:
        csv=report(
            f"{CLUSTERING_TABLE}.csv",
            caption="../report/imbalanced_clustering_table.rst",
            category="Imbalanced clustering",
            labels={"table": "imbalanced clustering", "format": "csv"},
        ),
        markdown=f"{CLUSTERING_TABLE}.md",
        runs=f"{CLUSTERING_TABLE}_seeds.csv",
        classes=f"{CLUSTERING_TABLE}_classes.csv",
    log:
        "results/logs/gather_clustering_table.log",
    benchmark:
        "results/benchmarks/gather_clustering_table.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/clustering.yaml"
    params:
        paper=CLUSTERING["paper"],
    script:
        "../scripts/gather_clustering_table.py"


rule plot_class_accuracy:
    input:
        classes=f"{CLUSTERING_TABLE}_classes.csv",
    output:
        png=report(
            f"{CLUSTERING_FIGURE}.png",
            caption="../report/imbalanced_clustering_figure.rst",
            category="Imbalanced clustering",
            labels={"figure": "class accuracy against class size"},
        ),
        pdf=f"{CLUSTERING_FIGURE}.pdf",
    log:
        "results/logs/plot_class_accuracy.log",
    benchmark:
        "results/benchmarks/plot_class_accuracy.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/clustering.yaml"
    script:
        "../scripts/plot_class_accuracy.py"


# CIFAR-100-LT (not in the default datasets: it downloads the archive and the ResNet50
# weights): the long-tailed subset as PNGs, embedded by the workflow's ResNet50 script.
rule extract_cifar100_lt:
    input:
        archive=cifar100_archive,
    output:
        images=temp("results/clustering/cifar100_lt/images.zip"),
        labels="results/clustering/cifar100_lt/labels.npz",
    log:
        "results/logs/extract_cifar100_lt.log",
    benchmark:
        "results/benchmarks/extract_cifar100_lt.tsv"
    conda:
        "../envs/clustering.yaml"
    params:
        imbalance_ratio=CLUSTERING["data"]["cifar100_lt"]["imbalance_ratio"],
        seed=CLUSTERING["data"]["cifar100_lt"]["seed"],
    script:
        "../scripts/extract_cifar100_lt.py"
