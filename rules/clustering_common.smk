# Imbalanced-clustering study: settings, registered targets and input functions of
# rules/clustering.smk. Self-contained: it needs only rules/common.smk (included first by
# the Snakefile) and, for cifar100_lt, the files rules/data.smk's `retrieve` downloads (the
# CIFAR-100 archive and the ResNet50 weights).
from hiref.studies.clustering import datasets as clustering_datasets
from hiref.studies.clustering import methods as clustering_methods

CLUSTERING = config["imbalanced_clustering"]
# The ResNet50 embedding settings shared with rules/data.smk's embed_images.
CLUSTERING_TABLE = "results/tables/imbalanced_clustering"
CLUSTERING_FIGURE = "results/figures/imbalanced_clustering_class_accuracy"
# P²OT against its KL weight (imbalanced_clustering.kl_sweep; none when the list is empty).
KL_SWEEP = CLUSTERING["kl_sweep"] if "p2ot" in CLUSTERING["methods"] else []
KL_SWEEP_OUTPUTS = {
    "figure": expand("results/figures/imbalanced_clustering_kl_weight.{ext}", ext=["png", "pdf"]),
    "table": expand("results/tables/imbalanced_clustering_kl_weight.{ext}", ext=["csv", "md"]),
}
CIFAR_ARCHIVE = "cifar100/cifar-100-python.tar.gz"

register_study(
    "imbalanced_clustering",
    [
        f"{CLUSTERING_TABLE}.csv",
        f"{CLUSTERING_TABLE}.md",
        f"{CLUSTERING_FIGURE}.png",
        f"{CLUSTERING_FIGURE}.pdf",
        *(KL_SWEEP_OUTPUTS["figure"] + KL_SWEEP_OUTPUTS["table"] if KL_SWEEP else []),
    ],
)


def clustering_records(wildcards=None):
    return expand(
        "results/clustering/runs/{dataset}/{method}/seed{seed}.json",
        dataset=CLUSTERING["datasets"],
        method=CLUSTERING["methods"],
        seed=CLUSTERING["seeds"],
    )


def kl_sweep_records(dataset="{dataset}"):
    """Records of P²OT's KL-weight sweep on one dataset (the `{dataset}` pattern by
    default), lam-major: run_kl_sweep's order."""
    return [
        f"results/clustering/kl_sweep/{dataset}/lam{lam:g}_seed{seed}.json"
        for lam in KL_SWEEP
        for seed in CLUSTERING["seeds"]
    ]


def clustering_data_inputs(wildcards):
    if wildcards.dataset == "cifar100_lt":
        return {
            "embeddings": "results/embeddings/cifar100_lt.npz",
            "labels": "results/clustering/cifar100_lt/labels.npz",
        }
    return {}


def cifar100_archive(wildcards):
    return config["data"]["cifar100"]["archive"] or raw_file(CIFAR_ARCHIVE)


register_image_set(
    "cifar100_lt",
    "results/clustering/cifar100_lt/images.zip",
    min_images=1,
    random_init_seed=EMBEDDING["random_init_seed"],
)


def method_settings(method):
    """The settings one method reads: k-means its restarts, a head method the head, its
    training and its pseudo-labels (sela, p2ot); every method the evaluation."""
    if method == "kmeans":
        return {key: CLUSTERING[key] for key in ("kmeans", "evaluation")}
    labels = [method] if method in clustering_methods.PSEUDO_LABEL_METHODS else []
    return {key: CLUSTERING[key] for key in ("head", "training", "kmeans", "evaluation", *labels)}


def cluster_gpus(wildcards):
    # k-means (scikit-learn) never holds a GPU slot, so it runs beside the JAX heads.
    return config["resources"]["gpu"] if wildcards.method in clustering_methods.HEAD_METHODS else 0
