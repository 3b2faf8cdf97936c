# Real datasets: raw-file table, dataset registry, input functions of rules/data.smk, and
# the checks of their sources made before any job (hiref.datasets.sources).
import re
from types import SimpleNamespace
from urllib.parse import urlparse

from hiref.datasets import EMBED_DIM, MERFISH_DIM
from hiref.datasets import sources as data_sources

DATA = config["data"]
RAW = DATA["resources_dir"]
STAGES = DATA["mosta"]["stages"]
MOSTA_PAIRS = [f"mosta_{a}_{b}" for a, b in zip(STAGES[:-1], STAGES[1:])]
IMAGE_SETS = ["coco", "imagenet"]
WEIGHTS_FILE = Path(urlparse(DATA["weights"]["url"]).path).name
MERFISH = DATA["merfish"]
MERFISH_ROLES = {"source": MERFISH["source_replicate"], "target": MERFISH["target_replicate"]}
# Stand-ins (docs/stand-ins.md): generated raw files under their own folder, read by the
# same rules as the real ones.
STAND_IN = DATA["stand_in"]
STAND_INS = DATA["stand_in_data"]
STAND_IN_DIR = STAND_INS["dir"]
# Memory (MiB) each generator's job requests: 1.25 x or more of the peak measured at the
# real size (0.88, 0.66, 0.21, 0.67 GB; docs/stand-ins.md).
STAND_IN_MEM_MB = {"mosta": 1200, "merfish": 1000, "coco": 500, "imagenet": 1000}
# Stand-in mode embeds with seeded random weights: pretrained ones are a download.
EMBED_SEED = DATA["embedding"]["random_init_seed"]
if STAND_IN and EMBED_SEED is None:
    EMBED_SEED = STAND_INS["seed"]


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

register_datasets(
    IMAGE_SETS + MOSTA_PAIRS + ["merfish"],
    "results/data/{dataset}.npz",
    {
        **{name: EMBED_DIM for name in IMAGE_SETS},
        **{pair: DATA["mosta"]["n_comps"] for pair in MOSTA_PAIRS},
        "merfish": MERFISH_DIM,
    },
)


def raw(path):
    return f"{RAW}/{path}"


def stand_in_file(path):
    return f"{STAND_IN_DIR}/{path}"


def image_source(image_set):
    """Where the real images of an image set are: a local copy or the retrieved zip (COCO),
    the user's folder (ImageNet)."""
    if image_set == "coco":
        return DATA["coco"]["images"] or raw("coco/val2017.zip")
    return DATA["imagenet"]["train_dir"]


def images_to_embed(wildcards):
    """The images embed_images reads for COCO or ImageNet: the stand-in COCO zip, or the real
    images."""
    if STAND_IN:
        if wildcards.image_set != "coco":
            raise ValueError(
                "with data.stand_in: true ImageNet is generated as embeddings "
                f"({stand_in_file('imagenet/imagenet.npz')}); there are no images to embed"
            )
        return stand_in_file("coco/val2017.zip")
    return image_source(wildcards.image_set)


for image_set in IMAGE_SETS:
    register_image_set(
        image_set,
        images_to_embed,
        min_images=2 * DATA[image_set]["n_per_side"],
        random_init_seed=EMBED_SEED,
        stand_in=STAND_IN,
    )


def embeddings_file(wildcards):
    """What split_embeddings reads: embed_images' output, or the ImageNet stand-in."""
    if STAND_IN and wildcards.image_set == "imagenet":
        return stand_in_file("imagenet/imagenet.npz")
    return f"results/embeddings/{wildcards.image_set}.npz"


def mosta_name(stage):
    return f"{stage}_E1S1.MOSTA.h5ad"


def mosta_stage_file(stage):
    """One stage file: stand-in, local copy or retrieved file."""
    local = DATA["mosta"]["local_dir"]
    if STAND_IN:
        return stand_in_file(f"mosta/{mosta_name(stage)}")
    return str(Path(local, mosta_name(stage))) if local else raw(f"mosta/{mosta_name(stage)}")


def merfish_role(replicate):
    return next(role for role, rep in MERFISH_ROLES.items() if rep == replicate)


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


def merfish_file(kind, replicate):
    """One of the four MERFISH CSVs: stand-in, local copy or retrieved file."""
    if STAND_IN:
        return stand_in_file(f"merfish/{merfish_name(kind, replicate)}.gz")
    if MERFISH["local_dir"]:
        return merfish_local(kind, replicate)
    return raw(f"merfish/{merfish_name(kind, replicate)}")


def merfish_inputs(wildcards):
    return {
        f"{role}_{key}": merfish_file(kind, rep)
        for role, rep in MERFISH_ROLES.items()
        for key, kind in (("metadata", "cell_metadata"), ("counts", "cell_by_gene"))
    }


def gene_transfer_runs(experiment):
    """Runs of an experiment on `merfish` by the methods that return matchings, except runs
    skipped for their size or cost: they hold no transport to score (their record says why)."""
    exp = config["experiments"][experiment]
    runs = []
    for method in method_labels(experiment):
        if registry.parse_label(method)[0] not in MERFISH["transfer_methods"]:
            continue
        for n in dataset_sizes(experiment, "merfish"):
            run = SimpleNamespace(experiment=experiment, dataset="merfish", method=method, n=n)
            if solver_kind(run) != "skipped":
                runs += expand(
                    "results/gene_transfer/{experiment}/{method}/n{n}_seed{seed}.csv",
                    experiment=experiment,
                    method=method,
                    n=n,
                    seed=exp["seeds"],
                )
    return runs


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


# ------------------------------------------------ sources, checked before any job runs
def run_datasets():
    """Real datasets of the experiments in `run`, and which experiments use each."""
    used = {}
    for name in config["run"]:
        for dataset in config["experiments"].get(name, {}).get("datasets", []):
            if dataset in IMAGE_SETS + MOSTA_PAIRS + ["merfish"]:
                used.setdefault(dataset, []).append(name)
    return used


def run_stages():
    return sorted(
        {s for d in run_datasets() if d.startswith("mosta_") for s in d[6:].split("_")},
        key=STAGES.index,
    )


def local_sources():
    """Configuration key -> the local files or folders it makes a real run read (whatever
    the mode: a stand-in run checks that it never writes there)."""
    used, found = run_datasets(), {}
    if "coco" in used:
        if DATA["coco"]["images"]:
            found["data.coco.images"] = [DATA["coco"]["images"]]
        if DATA["weights"]["path"] and EMBED_SEED is None:
            found["data.weights.path"] = [DATA["weights"]["path"]]
    if "imagenet" in used and DATA["imagenet"]["train_dir"]:
        found["data.imagenet.train_dir"] = [DATA["imagenet"]["train_dir"]]
    if DATA["mosta"]["local_dir"] and run_stages():
        found["data.mosta.local_dir"] = [
            str(Path(DATA["mosta"]["local_dir"], mosta_name(s))) for s in run_stages()
        ]
    if "merfish" in used and MERFISH["local_dir"]:
        found["data.merfish.local_dir"] = [
            merfish_local(kind, rep)
            for rep in MERFISH_ROLES.values()
            for kind in ("cell_metadata", "cell_by_gene")
        ]
    return found


def stand_in_outputs():
    """Every stand-in file the experiments in `run` read."""
    used = run_datasets()
    files = [stand_in_file(f"mosta/{mosta_name(s)}") for s in run_stages()]
    if "merfish" in used:
        files += [
            merfish_file(k, r)
            for r in MERFISH_ROLES.values()
            for k in ("cell_metadata", "cell_by_gene")
        ]
    if "coco" in used:
        files.append(stand_in_file("coco/val2017.zip"))
    if "imagenet" in used:
        files.append(stand_in_file("imagenet/imagenet.npz"))
    return files


def stand_in_size(dataset):
    """Points per side of a prepared dataset made from the stand-ins, and the key that sets it."""
    if dataset in IMAGE_SETS:
        key = "images" if dataset == "coco" else "rows"
        made = STAND_INS[dataset][key] // 2
        return min(made, DATA[dataset]["n_per_side"]), f"data.stand_in_data.{dataset}.{key}"
    if dataset == "merfish":
        cells = STAND_INS["merfish"]
        return min(cells["source_cells"], cells["target_cells"]), "data.stand_in_data.merfish"
    cells = STAND_INS["mosta"]["cells"]
    return min(cells.get(s, 0) for s in dataset[6:].split("_")), "data.stand_in_data.mosta.cells"


def stand_in_size_problems():
    """Experiments asking for more points than the stand-ins give."""
    problems = []
    for dataset, experiments in run_datasets().items():
        size, key = stand_in_size(dataset)
        for name in experiments:
            too_big = [n for n in dataset_sizes(name, dataset) if n > size]
            if too_big:
                problems.append(
                    f"experiments.{name} runs {dataset} at n = {too_big}, but its stand-in "
                    f"gives {size} points per side ({key})"
                )
    return problems


def source_problems():
    """Every problem of the data sources of the experiments in `run` (one message)."""
    if STAND_IN:
        stages = [s for s in run_stages() if s not in STAND_INS["mosta"]["cells"]]
        problems = [
            f"data.stand_in_data.mosta.cells has no cell count for stage {s}" for s in stages
        ]
        problems += [
            f"data.stand_in_data.mosta.tissues has no tissue count for stage {s}"
            for s in run_stages()
            if s not in STAND_INS["mosta"]["tissues"]
        ]
        real = [raw(p) for p in RAW_FILES] + [
            p for paths in local_sources().values() for p in paths
        ]
        problems += stand_in_size_problems()
        prepared = [f"results/data/{d}.npz" for d in run_datasets()]
        prepared += ["results/embeddings/coco.npz"] if "coco" in run_datasets() else []
        return problems + data_sources.stand_in_problems(stand_in_outputs(), real, prepared)
    problems = data_sources.local_problems(local_sources())
    train_dir = DATA["imagenet"]["train_dir"]
    if "imagenet" in run_datasets() and train_dir and Path(train_dir).is_file():
        problems.append(f"data.imagenet.train_dir: {train_dir} is a file, not a folder")
    return problems


PROBLEMS = source_problems()
if PROBLEMS:
    raise ValueError(data_sources.problems_message(PROBLEMS))

# ImageNet is licensed and never downloaded: without a train folder (and without
# stand-ins) the experiments that use it are not run, and their table says why.
NOT_RUN = (
    {}
    if STAND_IN or DATA["imagenet"]["train_dir"]
    else {
        name: (
            f"experiment {name} is not run: the ImageNet (ILSVRC2012) train images are "
            "licensed and never downloaded. Set data.imagenet.train_dir to your local train/ "
            "folder, or run it on generated stand-ins with data.stand_in: true "
            "(docs/stand-ins.md)."
        )
        for name in run_datasets().get("imagenet", [])
    }
)
for _message in NOT_RUN.values():
    logger.warning(_message)
