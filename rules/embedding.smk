# The one embedding rule: ResNet50 embeddings of any registered image set
# (register_image_set, rules/common.smk): COCO and ImageNet (rules/data_common.smk), the
# CIFAR-100-LT subset of the imbalanced-clustering study (rules/clustering_common.smk).


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
        # Any name: the sets are registered by files included later; image_set_to_embed
        # names the registered ones when asked for another.
        image_set="[A-Za-z0-9_]+",
    conda:
        "../envs/vision.yaml"
    threads: EMBEDDING["threads"]
    resources:
        gpu=config["resources"]["gpu"],
        mem_mb=EMBEDDING["mem_mb"],
        runtime=EMBEDDING["runtime"],
    params:
        size=EMBEDDING["size"],
        normalize=EMBEDDING["normalize"],
        batch_size=EMBEDDING["batch_size"],
        random_init_seed=lambda wc: image_set_to_embed(wc)["random_init_seed"],
        min_images=lambda wc: image_set_to_embed(wc)["min_images"],
        stand_in=lambda wc: image_set_to_embed(wc)["stand_in"],
    script:
        "../scripts/embed_images.py"
