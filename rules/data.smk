# Real datasets (docs/datasets.md): raw files retrieved and verified under resources/ (or,
# with data.stand_in: true, generated stand-ins under data.stand_in_data.dir:
# docs/stand-ins.md), ResNet50 image embeddings split 50:50 (coco, imagenet), MOSTA stage
# pairs (mosta_<stage>_<stage>), MERFISH slices (merfish) and their gene-transfer scores.


include: "data_common.smk"


rule retrieve:
    output:
        f"{RAW}/{{path}}",
    log:
        "results/logs/retrieve/{path}.log",
    benchmark:
        "results/benchmarks/retrieve/{path}.tsv"
    wildcard_constraints:
        path="|".join(map(re.escape, RAW_FILES)),
    # Runs where Snakemake runs: cluster nodes often have no internet.
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        url=lambda wc: RAW_FILES[wc.path]["url"],
        checksum=lambda wc: RAW_FILES[wc.path]["checksum"],
    script:
        "../scripts/retrieve.py"


rule split_embeddings:
    input:
        embeddings_file,
    output:
        "results/data/{image_set}.npz",
    log:
        "results/logs/split_embeddings/{image_set}.log",
    benchmark:
        "results/benchmarks/split_embeddings/{image_set}.tsv"
    wildcard_constraints:
        image_set="|".join(IMAGE_SETS),
    conda:
        "../envs/vision.yaml"
    resources:
        # Streams in blocks: 0.33 GB peak at ImageNet's size (docs/stand-ins.md).
        mem_mb=1000,
    params:
        n_per_side=lambda wc: DATA[wc.image_set]["n_per_side"],
        seed=lambda wc: DATA[wc.image_set]["seed"],
        stand_in=STAND_IN,
    script:
        "../scripts/split_embeddings.py"


rule preprocess_mosta:
    input:
        stage1=lambda wc: mosta_stage_file(wc.stage1),
        stage2=lambda wc: mosta_stage_file(wc.stage2),
    output:
        npz="results/data/mosta_{stage1}_{stage2}.npz",
        h5ad="results/data/mosta_{stage1}_{stage2}.h5ad",
    log:
        "results/logs/preprocess_mosta/{stage1}_{stage2}.log",
    benchmark:
        "results/benchmarks/preprocess_mosta/{stage1}_{stage2}.tsv"
    wildcard_constraints:
        stage1="|".join(map(re.escape, STAGES)),
        stage2="|".join(map(re.escape, STAGES)),
    conda:
        "../envs/bio.yaml"
    resources:
        mem_mb=DATA["mosta"]["mem_mb"],
    params:
        stages=lambda wc: [wc.stage1, wc.stage2],
        n_comps=DATA["mosta"]["n_comps"],
        seed=DATA["mosta"]["seed"],
        stand_in=STAND_IN,
    script:
        "../scripts/preprocess_mosta.py"


rule preprocess_merfish:
    input:
        unpack(merfish_inputs),
    output:
        npz="results/data/merfish.npz",
        h5ad="results/data/merfish.h5ad",
    log:
        "results/logs/preprocess_merfish.log",
    benchmark:
        "results/benchmarks/preprocess_merfish.tsv"
    conda:
        "../envs/bio.yaml"
    params:
        names=[f"S2R{MERFISH_ROLES['source']}", f"S2R{MERFISH_ROLES['target']}"],
        rotate_target_deg=MERFISH["rotate_target_deg"],
        seed=MERFISH["seed"],
        stand_in=STAND_IN,
    script:
        "../scripts/preprocess_merfish.py"


rule score_gene_transfer:
    input:
        h5ad="results/data/merfish.h5ad",
        matching="results/runs/{experiment}/merfish/{method}/n{n}_seed{seed}.npz",
        record="results/runs/{experiment}/merfish/{method}/n{n}_seed{seed}.json",
    output:
        csv="results/gene_transfer/{experiment}/{method}/n{n}_seed{seed}.csv",
        png=report(
            "results/figures/gene_transfer/{experiment}_{method}_n{n}_seed{seed}.png",
            caption="../report/gene_transfer.rst",
            category="Figures",
            labels={"figure": "gene transfer", "method": "{method}", "seed": "{seed}"},
        ),
        pdf="results/figures/gene_transfer/{experiment}_{method}_n{n}_seed{seed}.pdf",
    log:
        "results/logs/score_gene_transfer/{experiment}/{method}/n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/score_gene_transfer/{experiment}/{method}/n{n}_seed{seed}.tsv"
    conda:
        "../envs/bio.yaml"
    params:
        genes=MERFISH["genes"],
        bins=MERFISH["bins"],
        labels=lambda wc: {
            "experiment": wc.experiment,
            "method": wc.method,
            "n": int(wc.n),
            "seed": int(wc.seed),
        },
    script:
        "../scripts/score_gene_transfer.py"


rule gather_gene_transfer:
    input:
        lambda wc: gene_transfer_runs(wc.experiment),
    output:
        csv=report(
            "results/tables/gene_transfer/{experiment}.csv",
            caption="../report/gene_transfer_table.rst",
            category="Tables",
            labels={"experiment": "{experiment}", "table": "gene transfer"},
        ),
        markdown="results/tables/gene_transfer/{experiment}.md",
    log:
        "results/logs/gather_gene_transfer/{experiment}.log",
    benchmark:
        "results/benchmarks/gather_gene_transfer/{experiment}.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/bio.yaml"
    script:
        "../scripts/gather_gene_transfer.py"


# ------------------------------------------------ stand-ins (docs/stand-ins.md)
# Generated only when data.stand_in is true (the input functions above point at them then).


rule stand_in_mosta:
    output:
        stand_in_file("mosta/{stage}_E1S1.MOSTA.h5ad"),
    log:
        "results/logs/stand_in/mosta/{stage}.log",
    benchmark:
        "results/benchmarks/stand_in/mosta/{stage}.tsv"
    wildcard_constraints:
        stage="|".join(map(re.escape, STAGES)),
    conda:
        "../envs/bio.yaml"
    resources:
        mem_mb=STAND_IN_MEM_MB["mosta"],
    params:
        stage_index=lambda wc: STAGES.index(wc.stage),
        cells=lambda wc: STAND_INS["mosta"]["cells"][wc.stage],
        tissues=lambda wc: STAND_INS["mosta"]["tissues"][wc.stage],
        genes=STAND_INS["mosta"]["genes"],
        gene_dropout=STAND_INS["mosta"]["gene_dropout"],
        median_umi=STAND_INS["mosta"]["median_umi"],
        seed=STAND_INS["seed"],
    script:
        "../scripts/stand_in_mosta.py"


rule stand_in_merfish:
    output:
        metadata=stand_in_file("merfish/cell_metadata_S2R{replicate}.csv.gz"),
        counts=stand_in_file("merfish/cell_by_gene_S2R{replicate}.csv.gz"),
    log:
        "results/logs/stand_in/merfish/S2R{replicate}.log",
    benchmark:
        "results/benchmarks/stand_in/merfish/S2R{replicate}.tsv"
    wildcard_constraints:
        replicate="|".join(str(r) for r in MERFISH_ROLES.values()),
    conda:
        "../envs/bio.yaml"
    resources:
        mem_mb=STAND_IN_MEM_MB["merfish"],
    params:
        role=lambda wc: merfish_role(int(wc.replicate)),
        cells=lambda wc: STAND_INS["merfish"][f"{merfish_role(int(wc.replicate))}_cells"],
        rotation_deg=MERFISH["rotate_target_deg"],
        seed=STAND_INS["seed"],
    script:
        "../scripts/stand_in_merfish.py"


rule stand_in_coco:
    output:
        stand_in_file("coco/val2017.zip"),
    log:
        "results/logs/stand_in/coco.log",
    benchmark:
        "results/benchmarks/stand_in/coco.tsv"
    # scikit-image and scikit-learn photographs, Pillow: the warm-start study's environment.
    conda:
        "../envs/warmstart.yaml"
    resources:
        mem_mb=STAND_IN_MEM_MB["coco"],
    params:
        images=STAND_INS["coco"]["images"],
        seed=STAND_INS["seed"],
    script:
        "../scripts/stand_in_coco.py"


rule stand_in_imagenet:
    output:
        stand_in_file("imagenet/imagenet.npz"),
    log:
        "results/logs/stand_in/imagenet.log",
    benchmark:
        "results/benchmarks/stand_in/imagenet.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=STAND_IN_MEM_MB["imagenet"],
    params:
        rows=STAND_INS["imagenet"]["rows"],
        classes=STAND_INS["imagenet"]["classes"],
        dim=STAND_INS["imagenet"]["dim"],
        seed=STAND_INS["seed"],
    script:
        "../scripts/stand_in_imagenet.py"


# Experiments that need ImageNet without a train folder and without stand-ins: their table
# says why they did not run (rules/data_common.smk, NOT_RUN).
if NOT_RUN:

    rule experiment_not_run:
        output:
            csv="results/tables/{experiment}.csv",
            markdown="results/tables/{experiment}.md",
        log:
            "results/logs/experiment_not_run/{experiment}.log",
        benchmark:
            "results/benchmarks/experiment_not_run/{experiment}.tsv"
        wildcard_constraints:
            experiment="|".join(map(re.escape, NOT_RUN)),
        localrule: True
        conda:
            "../envs/data.yaml"
        params:
            message=lambda wc: NOT_RUN[wc.experiment],
        script:
            "../scripts/experiment_not_run.py"

    ruleorder: experiment_not_run > gather_tables
