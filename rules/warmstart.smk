# Study "warmstart": learned Sinkhorn warm starts for colour-palette transfer (issue 13 A).
# Palettes -> split by photo + trained initializer -> Sinkhorn from every initializer on the
# held-out pairs -> table, histogram, colour-transfer figure. Settings: config `warmstart`.

WARMSTART = config["warmstart"]
WARMSTART_DIR = "results/warmstart"
WARMSTART_TABLE = expand("results/tables/warmstart.{ext}", ext=["csv", "md"])
WARMSTART_ITERATIONS = expand("results/figures/warmstart_iterations.{ext}", ext=["png", "pdf"])
WARMSTART_TRANSFER = "results/figures/warmstart_transfer.png"

register_study("warmstart", [*WARMSTART_TABLE, *WARMSTART_ITERATIONS, WARMSTART_TRANSFER])
# scikit-image's photographs ship with the package: only COCO has an input file.
WARMSTART_IMAGES = {"images": image_source("coco")} if WARMSTART["source"] == "coco" else {}


rule extract_palettes:
    input:
        **WARMSTART_IMAGES,
    output:
        f"{WARMSTART_DIR}/palettes.npz",
    log:
        "results/logs/warmstart/extract_palettes.log",
    benchmark:
        "results/benchmarks/warmstart/extract_palettes.tsv"
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=WARMSTART,
    script:
        "../scripts/extract_palettes.py"


rule train_warmstart:
    input:
        f"{WARMSTART_DIR}/palettes.npz",
    output:
        model=f"{WARMSTART_DIR}/model.npz",
        split=f"{WARMSTART_DIR}/split.json",
    log:
        "results/logs/warmstart/train_warmstart.log",
    benchmark:
        "results/benchmarks/warmstart/train_warmstart.tsv"
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=WARMSTART,
    script:
        "../scripts/train_warmstart.py"


rule evaluate_warmstart:
    input:
        palettes=f"{WARMSTART_DIR}/palettes.npz",
        model=f"{WARMSTART_DIR}/model.npz",
        split=f"{WARMSTART_DIR}/split.json",
    output:
        evaluation=f"{WARMSTART_DIR}/evaluation.json",
        potentials=f"{WARMSTART_DIR}/potentials.npz",
    log:
        "results/logs/warmstart/evaluate_warmstart.log",
    benchmark:
        "results/benchmarks/warmstart/evaluate_warmstart.tsv"
    conda:
        "../envs/warmstart.yaml"
    # Timed Sinkhorn solves: alone on the machine locally, like solve_ot.
    threads: lambda wildcards: timed_job_threads(config["resources"]["solve_threads"])
    resources:
        gpu=config["resources"]["gpu"],
    params:
        settings=WARMSTART,
    script:
        "../scripts/evaluate_warmstart.py"


rule gather_warmstart:
    input:
        f"{WARMSTART_DIR}/evaluation.json",
    output:
        csv=report(
            WARMSTART_TABLE[0],
            caption="../report/warmstart_table.rst",
            category="Warm starts",
            labels={"table": "warm starts", "format": "csv"},
        ),
        markdown=WARMSTART_TABLE[1],
    log:
        "results/logs/warmstart/gather_warmstart.log",
    benchmark:
        "results/benchmarks/warmstart/gather_warmstart.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=WARMSTART,
    script:
        "../scripts/gather_warmstart.py"


rule plot_warmstart_iterations:
    input:
        f"{WARMSTART_DIR}/evaluation.json",
    output:
        png=report(
            WARMSTART_ITERATIONS[0],
            caption="../report/warmstart_iterations.rst",
            category="Warm starts",
            labels={"figure": "iterations"},
        ),
        pdf=WARMSTART_ITERATIONS[1],
    log:
        "results/logs/warmstart/plot_warmstart_iterations.log",
    benchmark:
        "results/benchmarks/warmstart/plot_warmstart_iterations.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=WARMSTART,
    script:
        "../scripts/plot_warmstart_iterations.py"


rule plot_warmstart_transfer:
    input:
        **WARMSTART_IMAGES,
        palettes=f"{WARMSTART_DIR}/palettes.npz",
        evaluation=f"{WARMSTART_DIR}/evaluation.json",
        potentials=f"{WARMSTART_DIR}/potentials.npz",
    output:
        report(
            WARMSTART_TRANSFER,
            caption="../report/warmstart_transfer.rst",
            category="Warm starts",
            labels={"figure": "colour transfer"},
        ),
    log:
        "results/logs/warmstart/plot_warmstart_transfer.log",
    benchmark:
        "results/benchmarks/warmstart/plot_warmstart_transfer.tsv"
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=WARMSTART,
    script:
        "../scripts/plot_warmstart_transfer.py"
