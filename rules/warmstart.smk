# Study "warmstart": learned Sinkhorn warm starts for colour-palette transfer (docs/warmstart.md).
# Palettes -> split by photo -> per problem (a Sinkhorn setting): our potential network and
# the reference's P0 network trained, Sinkhorn from every initializer on held-out pairs ->
# one table, the iterations and paired-ratio figure, a colour-transfer figure. Settings:
# config `warmstart`; code: hiref.studies.warmstart; names and input functions:
# rules/warmstart_common.smk. Self-contained: it needs only rules/common.smk (included first
# by the Snakefile) and, with `source: coco`, the COCO zip that rules/data.smk's `retrieve`
# writes.


include: "warmstart_common.smk"


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
        settings=warmstart_settings("source", "bundled", "coco", "palette"),
    script:
        "../scripts/extract_palettes.py"


rule split_warmstart:
    input:
        f"{WARMSTART_DIR}/palettes.npz",
    output:
        f"{WARMSTART_DIR}/split.json",
    log:
        "results/logs/warmstart/split_warmstart.log",
    benchmark:
        "results/benchmarks/warmstart/split_warmstart.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/warmstart.yaml"
    params:
        settings=warmstart_settings("source", "bundled", "coco", "split"),
    script:
        "../scripts/split_warmstart.py"


rule train_potential_model:
    input:
        palettes=f"{WARMSTART_DIR}/palettes.npz",
        split=f"{WARMSTART_DIR}/split.json",
    output:
        f"{WARMSTART_DIR}/{{problem}}/potential_model.npz",
    log:
        "results/logs/warmstart/train_potential_model/{problem}.log",
    benchmark:
        "results/benchmarks/warmstart/train_potential_model/{problem}.tsv"
    wildcard_constraints:
        problem=WARMSTART_PROBLEM,
    conda:
        "../envs/warmstart.yaml"
    resources:
        gpu=config["resources"]["gpu"],
    params:
        settings=lambda wc: warmstart_settings("potential_model", problem=wc.problem),
    script:
        "../scripts/train_warmstart.py"


rule train_plan_model:
    input:
        palettes=f"{WARMSTART_DIR}/palettes.npz",
        split=f"{WARMSTART_DIR}/split.json",
    output:
        f"{WARMSTART_DIR}/{{problem}}/plan_model.npz",
    log:
        "results/logs/warmstart/train_plan_model/{problem}.log",
    benchmark:
        "results/benchmarks/warmstart/train_plan_model/{problem}.tsv"
    wildcard_constraints:
        problem=WARMSTART_PROBLEM,
    conda:
        "../envs/warmstart.yaml"
    resources:
        gpu=config["resources"]["gpu"],
    params:
        settings=lambda wc: warmstart_settings("plan_model", problem=wc.problem),
    script:
        "../scripts/train_warmstart.py"


rule evaluate_warmstart:
    input:
        unpack(warmstart_models),
        palettes=f"{WARMSTART_DIR}/palettes.npz",
        split=f"{WARMSTART_DIR}/split.json",
    output:
        evaluation=f"{WARMSTART_DIR}/{{problem}}/evaluation.json",
        potentials=f"{WARMSTART_DIR}/{{problem}}/potentials.npz",
    log:
        "results/logs/warmstart/evaluate_warmstart/{problem}.log",
    benchmark:
        "results/benchmarks/warmstart/evaluate_warmstart/{problem}.tsv"
    wildcard_constraints:
        problem=WARMSTART_PROBLEM,
    conda:
        "../envs/warmstart.yaml"
    # Timed Sinkhorn solves: alone on the machine locally, like solve_ot.
    threads: lambda wildcards: timed_job_threads(config["resources"]["solve_threads"])
    resources:
        gpu=config["resources"]["gpu"],
    params:
        settings=lambda wc: {
            "name": wc.problem,
            **warmstart_settings("initializers", "subsample", problem=wc.problem),
        },
    script:
        "../scripts/evaluate_warmstart.py"


rule gather_warmstart:
    input:
        **warmstart_evaluations(),
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
        settings=warmstart_settings("bootstrap", "reference"),
    script:
        "../scripts/gather_warmstart.py"


rule plot_warmstart_iterations:
    input:
        **warmstart_evaluations(),
    output:
        png=report(
            WARMSTART_ITERATIONS[0],
            caption="../report/warmstart_iterations.rst",
            category="Warm starts",
            labels={"figure": "iterations and paired ratios"},
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
    script:
        "../scripts/plot_warmstart_iterations.py"


rule plot_warmstart_transfer:
    input:
        **warmstart_images(),
        palettes=f"{WARMSTART_DIR}/palettes.npz",
        evaluation=f"{WARMSTART_DIR}/{WARMSTART['transfer_figure']['problem']}/evaluation.json",
        potentials=f"{WARMSTART_DIR}/{WARMSTART['transfer_figure']['problem']}/potentials.npz",
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
        settings=warmstart_settings("transfer_figure"),
    script:
        "../scripts/plot_warmstart_transfer.py"
