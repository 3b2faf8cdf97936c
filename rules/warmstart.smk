# Study "warmstart": learned Sinkhorn warm starts for colour-palette transfer (docs/warmstart.md).
# Palettes -> split by photo + trained initializer -> Sinkhorn from every initializer on the
# held-out pairs -> table, histogram, colour-transfer figure. Settings: config `warmstart`;
# code: hiref.studies.warmstart. Self-contained: it needs only rules/common.smk (included
# first by the Snakefile) and, with `source: coco`, the COCO zip that rules/data.smk's
# `retrieve` writes.

WARMSTART = config["warmstart"]
WARMSTART_DIR = "results/warmstart"
WARMSTART_TABLE = expand("results/tables/warmstart.{ext}", ext=["csv", "md"])
WARMSTART_ITERATIONS = expand("results/figures/warmstart_iterations.{ext}", ext=["png", "pdf"])
WARMSTART_TRANSFER = "results/figures/warmstart_transfer.png"

register_study("warmstart", [*WARMSTART_TABLE, *WARMSTART_ITERATIONS, WARMSTART_TRANSFER])


def warmstart_images():
    """The COCO images (data.coco.images, else the zip `retrieve` downloads); scikit-image's
    photographs ship with the package and have no input file."""
    if WARMSTART["source"] != "coco":
        return {}
    return {"images": config["data"]["coco"]["images"] or raw_file("coco/val2017.zip")}


def warmstart_settings(*keys):
    """The parts of the `warmstart` section a rule reads (each rule is given only those)."""
    return {key: WARMSTART[key] for key in keys}


rule extract_palettes:
    input:
        **warmstart_images(),
    output:
        f"{WARMSTART_DIR}/palettes.npz",
    log:
        "results/logs/warmstart/extract_palettes.log",
    benchmark:
        "results/benchmarks/warmstart/extract_palettes.tsv"
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=warmstart_settings("source", "skimage", "coco", "palette"),
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
        settings=warmstart_settings("source", "skimage", "coco", "split", "model", "sinkhorn"),
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
        settings=warmstart_settings("sinkhorn", "initializers", "subsample"),
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
        settings=warmstart_settings("sinkhorn", "reference"),
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
        settings=warmstart_settings("sinkhorn"),
    script:
        "../scripts/plot_warmstart_iterations.py"


rule plot_warmstart_transfer:
    input:
        **warmstart_images(),
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
        settings=warmstart_settings("sinkhorn", "transfer_figure"),
    script:
        "../scripts/plot_warmstart_transfer.py"
