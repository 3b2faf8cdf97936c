# Real datasets (docs/datasets.md): raw files retrieved and verified under resources/,
# ResNet50 image embeddings split 50:50 (coco, imagenet), MOSTA stage pairs
# (mosta_<stage>_<stage>), MERFISH slices (merfish) and their gene-transfer scores.


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


rule embed_images:
    input:
        unpack(embed_inputs),
    output:
        "results/embeddings/{image_set}.npz",
    log:
        "results/logs/embed_images/{image_set}.log",
    benchmark:
        "results/benchmarks/embed_images/{image_set}.tsv"
    wildcard_constraints:
        image_set="|".join(IMAGE_SETS),
    conda:
        "../envs/vision.yaml"
    threads: DATA["embedding"]["threads"]
    resources:
        gpu=config["resources"]["gpu"],
        mem_mb=DATA["embedding"]["mem_mb"],
        runtime=DATA["embedding"]["runtime"],
    params:
        size=DATA["embedding"]["size"],
        normalize=DATA["embedding"]["normalize"],
        batch_size=DATA["embedding"]["batch_size"],
        random_init_seed=DATA["embedding"]["random_init_seed"],
        min_images=lambda wc: 2 * DATA[wc.image_set]["n_per_side"],
    script:
        "../scripts/embed_images.py"


rule split_embeddings:
    input:
        "results/embeddings/{image_set}.npz",
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
        mem_mb=DATA["embedding"]["mem_mb"],
    params:
        n_per_side=lambda wc: DATA[wc.image_set]["n_per_side"],
        seed=lambda wc: DATA[wc.image_set]["seed"],
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
