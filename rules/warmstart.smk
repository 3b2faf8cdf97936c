# Study "warmstart": learned Sinkhorn warm starts for colour-palette transfer (docs/warmstart.md).
# Palettes -> split by photo -> per problem (a Sinkhorn setting): our potential network and
# the reference's P0 network trained, Sinkhorn from every initializer on held-out pairs ->
# one table, the iterations and paired-ratio figure, a colour-transfer figure. Settings:
# config `warmstart`; code: hiref.studies.warmstart. Self-contained: it needs only
# rules/common.smk (included first by the Snakefile) and, with `source: coco`, the COCO zip
# that rules/data.smk's `retrieve` writes.

WARMSTART = config["warmstart"]
WARMSTART_DIR = "results/warmstart"
WARMSTART_PROBLEMS = list(WARMSTART["problems"])
WARMSTART_TABLE = expand("results/tables/warmstart.{ext}", ext=["csv", "md"])
WARMSTART_ITERATIONS = expand("results/figures/warmstart_iterations.{ext}", ext=["png", "pdf"])
WARMSTART_TRANSFER = "results/figures/warmstart_transfer.png"
WARMSTART_PROBLEM = "|".join(map(re.escape, WARMSTART_PROBLEMS))
if WARMSTART["transfer_figure"]["problem"] not in WARMSTART_PROBLEMS:
    raise ValueError(
        f"warmstart.transfer_figure.problem: {WARMSTART['transfer_figure']['problem']!r} is "
        f"not one of warmstart.problems ({', '.join(WARMSTART_PROBLEMS)})"
    )
if WARMSTART["reference"]["problem"] not in WARMSTART_PROBLEMS:
    raise ValueError(
        f"warmstart.reference.problem: {WARMSTART['reference']['problem']!r} is not one of "
        f"warmstart.problems ({', '.join(WARMSTART_PROBLEMS)})"
    )

register_study("warmstart", [*WARMSTART_TABLE, *WARMSTART_ITERATIONS, WARMSTART_TRANSFER])


def warmstart_images():
    """The COCO images (data.coco.images, else the zip `retrieve` downloads); the bundled
    photographs ship with their packages and have no input file."""
    if WARMSTART["source"] != "coco":
        return {}
    return {"images": config["data"]["coco"]["images"] or raw_file("coco/val2017.zip")}


def warmstart_settings(*keys, problem=None):
    """The parts of the `warmstart` section a rule reads (each rule is given only those),
    with one problem's settings as `problem`."""
    out = {key: WARMSTART[key] for key in keys}
    if problem is not None:
        out["problem"] = WARMSTART["problems"][problem]
    return out


def warmstart_models(wildcards):
    """Model files of the learned initializers evaluated, for one problem."""
    rules = {
        "learned_potentials": "potential_model",
        "learned_plan": "plan_model",
    }
    return {
        name: f"{WARMSTART_DIR}/{wildcards.problem}/{model}.npz"
        for name, model in rules.items()
        if name in WARMSTART["initializers"]
    }


def warmstart_evaluations(wildcards=None):
    return {problem: f"{WARMSTART_DIR}/{problem}/evaluation.json" for problem in WARMSTART_PROBLEMS}


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
