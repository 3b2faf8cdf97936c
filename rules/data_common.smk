# Real datasets: raw-file table, dataset registry and input functions of rules/data.smk.
import re
from urllib.parse import urlparse

DATA = config["data"]
RAW = DATA["resources_dir"]
STAGES = DATA["mosta"]["stages"]
MOSTA_PAIRS = [f"mosta_{a}_{b}" for a, b in zip(STAGES[:-1], STAGES[1:])]
IMAGE_SETS = ["coco", "imagenet"]
WEIGHTS_FILE = Path(urlparse(DATA["weights"]["url"]).path).name
MERFISH = DATA["merfish"]
MERFISH_ROLES = {"source": MERFISH["source_replicate"], "target": MERFISH["target_replicate"]}


def merfish_name(kind, replicate):
    return f"{kind}_S2R{replicate}.csv"


# Every downloadable file: its path under resources/ -> URL and checksum (null: unpinned).
RAW_FILES = {
    "coco/val2017.zip": {"url": DATA["coco"]["url"], "checksum": DATA["coco"]["checksum"]},
    f"weights/{WEIGHTS_FILE}": {
        "url": DATA["weights"]["url"],
        "checksum": DATA["weights"]["checksum"],
    },
    **{
        f"mosta/{stage}_E1S1.MOSTA.h5ad": {
            "url": DATA["mosta"]["url"].format(stage=stage),
            "checksum": DATA["mosta"]["checksums"].get(stage),
        }
        for stage in STAGES
    },
    **{
        f"merfish/{merfish_name(kind, rep)}": {
            "url": MERFISH["url"].format(replicate=rep, file=merfish_name(kind, rep)),
            "checksum": MERFISH["checksums"].get(merfish_name(kind, rep)),
        }
        for rep in MERFISH_ROLES.values()
        for kind in ("cell_metadata", "cell_by_gene")
    },
    # CIFAR-100 for the imbalanced-clustering study (rules/clustering.smk).
    "cifar100/cifar-100-python.tar.gz": {
        "url": DATA["cifar100"]["url"],
        "checksum": DATA["cifar100"]["checksum"],
    },
}

register_datasets(IMAGE_SETS + MOSTA_PAIRS + ["merfish"], "results/data/{dataset}.npz")

# ImageNet is licensed: it runs only when the user names a local train folder.
if DATA["imagenet"]["train_dir"] is None and "imagenet" in config["run"]:
    config["run"].remove("imagenet")
    logger.warning("experiment imagenet not run: set data.imagenet.train_dir (docs/datasets.md)")


def raw(path):
    return f"{RAW}/{path}"


def image_source(image_set):
    if image_set == "coco":
        return DATA["coco"]["images"] or raw("coco/val2017.zip")
    train_dir = DATA["imagenet"]["train_dir"]
    if train_dir is None:
        raise ValueError("data.imagenet.train_dir is not set: give the ILSVRC2012 train folder")
    if not Path(train_dir).is_dir():
        raise ValueError(f"data.imagenet.train_dir: {train_dir} is not a folder")
    return train_dir


def embed_inputs(wildcards):
    inputs = {"images": image_source(wildcards.image_set)}
    if DATA["embedding"]["random_init_seed"] is None:
        inputs["weights"] = DATA["weights"]["path"] or raw(f"weights/{WEIGHTS_FILE}")
    return inputs


def mosta_stage_file(stage):
    name = f"{stage}_E1S1.MOSTA.h5ad"
    local = DATA["mosta"]["local_dir"]
    return str(Path(local, name)) if local else raw(f"mosta/{name}")


def merfish_local_names(kind, replicate):
    """Names a replicate's CSV may have in data.merfish.local_dir, preferred first: Vizgen's
    (cell_metadata_S2R3.csv), then the authors' local copies
    (datasets_mouse_brain_map_BrainReceptorShowcase_Slice2_Replicate3_cell_metadata_S2R3.csv,
    S2R3_X_BrainReceptorShowcase-Slice2-Replicate3-cell_by_gene_S2R3.csv), each also .gz."""
    authors = {
        "cell_metadata": "datasets_mouse_brain_map_BrainReceptorShowcase_Slice2_"
        f"Replicate{replicate}_cell_metadata_S2R{replicate}.csv",
        "cell_by_gene": f"S2R{replicate}_X_BrainReceptorShowcase-Slice2-Replicate{replicate}"
        f"-cell_by_gene_S2R{replicate}.csv",
    }
    return [
        name + gz for name in (merfish_name(kind, replicate), authors[kind]) for gz in ("", ".gz")
    ]


def merfish_local(kind, replicate):
    """The first of merfish_local_names present in data.merfish.local_dir (else Vizgen's
    name, which Snakemake then reports as a missing input)."""
    names = merfish_local_names(kind, replicate)
    found = [Path(MERFISH["local_dir"], n) for n in names if Path(MERFISH["local_dir"], n).exists()]
    return str(found[0] if found else Path(MERFISH["local_dir"], names[0]))


def merfish_inputs(wildcards):
    local = MERFISH["local_dir"]
    return {
        f"{role}_{key}": (
            merfish_local(kind, rep) if local else raw(f"merfish/{merfish_name(kind, rep)}")
        )
        for role, rep in MERFISH_ROLES.items()
        for key, kind in (("metadata", "cell_metadata"), ("counts", "cell_by_gene"))
    }


def gene_transfer_runs(experiment):
    """Runs of an experiment on `merfish` by the methods that return matchings."""
    exp = config["experiments"][experiment]
    methods = [
        m
        for m in method_labels(experiment)
        if registry.parse_label(m)[0] in MERFISH["transfer_methods"]
    ]
    return expand(
        "results/gene_transfer/{experiment}/{method}/n{n}_seed{seed}.csv",
        experiment=experiment,
        method=methods,
        n=dataset_sizes(experiment, "merfish"),
        seed=exp["seeds"],
    )


def transfer_experiments():
    # `run` may also name studies (register_study), which have no datasets.
    experiments = config["experiments"]
    return [
        e for e in config["run"] if e in experiments and "merfish" in experiments[e]["datasets"]
    ]


def data_outputs(wildcards):
    """Extra targets of the default target: gene-transfer tables of merfish experiments."""
    return expand(
        "results/tables/gene_transfer/{experiment}.{ext}",
        experiment=transfer_experiments(),
        ext=["csv", "md"],
    )
