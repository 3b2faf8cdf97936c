# Imbalanced-clustering study: settings, registered targets and input functions of
# rules/clustering.smk.
from hiref.clustering import datasets as clustering_datasets
from hiref.clustering import methods as clustering_methods

CLUSTERING = config["imbalanced_clustering"]
CLUSTERING_TABLE = "results/tables/imbalanced_clustering"
CLUSTERING_FIGURE = "results/figures/imbalanced_clustering_class_accuracy"
CIFAR_ARCHIVE = "cifar100/cifar-100-python.tar.gz"

register_study(
    "imbalanced_clustering",
    [
        f"{CLUSTERING_TABLE}.csv",
        f"{CLUSTERING_TABLE}.md",
        f"{CLUSTERING_FIGURE}.png",
        f"{CLUSTERING_FIGURE}.pdf",
    ],
)


def clustering_records(wildcards=None):
    return expand(
        "results/clustering/runs/{dataset}/{method}/seed{seed}.json",
        dataset=CLUSTERING["datasets"],
        method=CLUSTERING["methods"],
        seed=CLUSTERING["seeds"],
    )


def clustering_data_inputs(wildcards):
    if wildcards.dataset == "cifar100_lt":
        return {
            "embeddings": "results/embeddings/cifar100_lt.npz",
            "labels": "results/clustering/cifar100_lt/labels.npz",
        }
    return {}


def cifar100_archive(wildcards):
    return DATA["cifar100"]["archive"] or raw(CIFAR_ARCHIVE)


def cifar100_embed_inputs(wildcards):
    inputs = {"images": "results/clustering/cifar100_lt/images.zip"}
    if DATA["embedding"]["random_init_seed"] is None:
        inputs["weights"] = DATA["weights"]["path"] or raw(f"weights/{WEIGHTS_FILE}")
    return inputs


def cluster_gpus(wildcards):
    # k-means (scikit-learn) never holds a GPU slot, so it runs beside the JAX heads.
    return config["resources"]["gpu"] if wildcards.method in clustering_methods.HEAD_METHODS else 0
