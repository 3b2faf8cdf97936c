# Configuration checks, the dataset registry, input functions, job resources and wildcard
# constraints.
import math
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

# This workflow's own folder, also when another Snakefile imports it as a module (there
# workflow.basedir is the importing project's folder).
WORKFLOW_DIR = Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent
# The workflow's own `hiref` (src/) comes first: in Snakemake's process (the checks and the
# method registry below) and in every job, which inherits PYTHONPATH locally, through
# `sbatch --export=ALL` on SLURM and inside `--sdm conda` environments (where `hiref` is
# not installed). Nothing is required from the caller's environment.
SRC_DIR = WORKFLOW_DIR / "src"
if SRC_DIR.is_dir():
    sys.path.insert(0, str(SRC_DIR))
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    os.environ.update(
        PYTHONPATH=os.pathsep.join(dict.fromkeys(filter(None, [str(SRC_DIR), *inherited])))
    )

# Light modules: neither imports JAX, scikit-learn or torch into Snakemake's process.
from hiref import methods as registry
from hiref import resources as job_requests
from hiref import workflow_config

# Schema first: unknown keys, wrong types or empty lists fail here with one line naming the
# key, before any job runs; the defaults the schema declares are filled in.
SCHEMA = workflow_config.load_schema(WORKFLOW_DIR / "config" / "schema.yaml")
workflow_config.validate(config, SCHEMA)


# Every dataset an experiment may name -> the prepared file `solve_ot` reads, as a template
# that may use {n} and {seed}, and its dimension d (None: unknown, sized as
# job_requests.UNKNOWN_DIMENSION). rules/synthetic.smk registers the synthetic pairs; a rules
# file for other data adds its names the same way, beside the step that writes the file.
DATASETS = {}
DIMENSIONS = {}


def register_datasets(names, template, dimensions=None):
    for name in names:
        DATASETS[name] = template.replace("{dataset}", name)
        DIMENSIONS[name] = (dimensions or {}).get(name)


# Studies that are not OT-method experiments (their own rules, config section and outputs):
# name -> the files `rule all` builds when `run` names the study. A rules file registers
# its study beside its rules, as with datasets.
STUDIES = {}


def register_study(name, targets):
    STUDIES[name] = list(targets)


def check_experiments():
    """Experiment names, datasets, method labels and per-experiment settings are valid
    (hiref.workflow_config); raises one message listing every problem otherwise.

    Then every run of the experiments in `run` gets a schedule its n admits (the method's
    size check), so no job fails for its settings.

    Called from the Snakefile after every rules file is included (all datasets registered).
    """
    workflow_config.check_experiments(config, DATASETS, STUDIES, SCHEMA)
    problems = [
        f"experiments.{experiment}: {label} at n = {n}: {error}"
        for experiment in config["run"]
        if experiment in config["experiments"]
        for n in dict.fromkeys(
            n
            for dataset in config["experiments"][experiment]["datasets"]
            for n in dataset_sizes(experiment, dataset)
        )
        for label in method_labels(experiment)
        if (
            error := registry.size_error(
                label,
                method_params(SimpleNamespace(experiment=experiment, method=label, n=n)),
                n,
            )
        )
    ]
    problems += shard_problems()
    if problems:
        raise workflow_config.ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def raw_file(path):
    """Where a downloaded file lives: ``path`` under data.resources_dir (rules/data.smk's
    `retrieve` writes it there)."""
    return f"{config['data']['resources_dir']}/{path}"


def resnet50_weights():
    """The ResNet50 weights an embedding job reads: data.weights.path, else the file
    `retrieve` downloads from data.weights.url (named as in the URL)."""
    weights = config["data"]["weights"]
    return weights["path"] or raw_file(f"weights/{Path(urlparse(weights['url']).path).name}")


# Settings of the one embedding rule (`embed_images`, rules/embedding.smk), whatever the set.
EMBEDDING = config["data"]["embedding"]
# Image sets `embed_images` embeds: name -> its images (a path, or a function of the
# wildcards), the fewest images it must hold, the seed of random ResNet50 weights (None: the
# weights file) and whether its images are stand-ins. A rules file registers its sets beside
# the step that writes the images, as with datasets.
IMAGE_SETS_TO_EMBED = {}


def register_image_set(name, images, *, min_images, random_init_seed, stand_in=False):
    IMAGE_SETS_TO_EMBED[name] = {
        "images": images,
        "min_images": min_images,
        "random_init_seed": random_init_seed,
        "stand_in": stand_in,
    }


def image_set_to_embed(wildcards):
    """The registration of the image set `embed_images` is asked for."""
    if wildcards.image_set not in IMAGE_SETS_TO_EMBED:
        raise ValueError(
            f"no image set {wildcards.image_set!r} to embed; registered: "
            f"{sorted(IMAGE_SETS_TO_EMBED)} (rules/common.smk, register_image_set)"
        )
    return IMAGE_SETS_TO_EMBED[wildcards.image_set]


def embed_inputs(wildcards):
    """The images of the set, and the weights file unless random weights are seeded."""
    image_set = image_set_to_embed(wildcards)
    images = image_set["images"]
    inputs = {"images": images(wildcards) if callable(images) else images}
    if image_set["random_init_seed"] is None:
        inputs["weights"] = resnet50_weights()
    return inputs


def method_labels(experiment):
    """Method variants an experiment runs, e.g. minibatch -> minibatch-64, minibatch-256."""
    exp = config["experiments"][experiment]
    labels = []
    for label in exp["methods"]:
        name, from_label = registry.parse_label(label)
        settings = {**config["methods"][name], **exp["settings"].get(name, {})}
        labels += [label] if from_label else registry.expand_labels(name, settings)
    return labels


def dataset_sizes(experiment, dataset):
    """The n an experiment runs a dataset at: its `n_by_dataset` entry, else `n`."""
    exp = config["experiments"][experiment]
    return exp["n_by_dataset"].get(dataset, exp["n"])


def run_records(experiment):
    """Every run record of an experiment."""
    exp = config["experiments"][experiment]
    return [
        record
        for dataset in exp["datasets"]
        for record in expand(
            "results/runs/{experiment}/{dataset}/{method}/n{n}_seed{seed}.json",
            experiment=experiment,
            dataset=dataset,
            method=method_labels(experiment),
            n=dataset_sizes(experiment, dataset),
            seed=exp["seeds"],
        )
    ]


def method_params(wildcards):
    """Complete settings of one run (workflow_config.run_params)."""
    return workflow_config.run_params(
        config, wildcards.experiment, wildcards.method, int(wildcards.n), SCHEMA
    )


# Sharded HiRef runs (rules/shard.smk): an experiment's `shard` setting splits each of its
# hiref_refined runs into a first-levels job, block jobs and a gather job. The number of
# blocks is the product of the first ranks of the run's schedule, known when the DAG is built.
def sharded_experiments():
    """Experiments whose hiref_refined runs are sharded."""
    return [name for name, exp in config["experiments"].items() if exp["shard"] is not None]


def shard_problems():
    """Runs of sharded experiments whose schedule has fewer low-rank levels than
    `shard.levels` (a schedule that fits no n is the size check's problem), or that ask for
    half-space splits (sharded runs take low-rank levels, even where `auto` would not)."""
    problems = []
    for experiment in sharded_experiments():
        exp = config["experiments"][experiment]
        for dataset in exp["datasets"]:
            for n in dataset_sizes(experiment, dataset):
                for label in method_labels(experiment):
                    if registry.parse_label(label)[0] != workflow_config.SHARDED_METHOD:
                        continue
                    run = SimpleNamespace(experiment=experiment, method=label, n=n)
                    if method_params(run)["split"] == "halfspace":
                        problems.append(
                            f"experiments.{experiment}: sharded hiref_refined runs take "
                            "low-rank levels; set its split to lowrank or auto."
                        )
                        continue
                    try:
                        schedule = run_schedule(run)
                    except ValueError:
                        continue
                    error = workflow_config.shard_level_error(
                        f"experiments.{experiment}", exp["shard"]["levels"], schedule, n
                    )
                    problems += [error] if error else []
    return list(dict.fromkeys(problems))


def run_schedule(wildcards):
    """The low-rank schedule of this run's settings and n (that of a sharded run; a
    single-job run in 2-D may take half-space levels instead, hiref.halfspace)."""
    from hiref.methods.hierarchical import lowrank_leaf
    from hiref.schedule import solver_schedule

    params = method_params(wildcards)
    return solver_schedule(
        int(wildcards.n),
        params["max_rank"],
        lowrank_leaf(params),
        params["depth"],
        params["schedule"],
    )


def shard_setting(wildcards):
    """The run's `shard` setting with its block and job counts."""
    shard = config["experiments"][wildcards.experiment]["shard"]
    blocks = math.prod(run_schedule(wildcards)[: shard["levels"]])
    return {**shard, "blocks": blocks, "jobs": -(-blocks // shard["blocks_per_job"])}


def shard_results(wildcards):
    """The result files of every block job of a sharded run."""
    return expand(
        "results/shards/{experiment}/{dataset}/{method}/n{n}_seed{seed}/result{job}.npz",
        job=range(shard_setting(wildcards)["jobs"]),
        **wildcards,
    )


def shard_block_mem_mb(wildcards, attempt):
    """Memory of a block job: a solver job's for the points its blocks hold."""
    shard = shard_setting(wildcards)
    points = -(-int(wildcards.n) // shard["blocks"]) * shard["blocks_per_job"]
    name, _, d = solver_size(wildcards)
    return job_requests.solver_mem_mb(
        name,
        points,
        d,
        attempt,
        config["resources"]["solve_mem_mb"],
        method_params(wildcards),
    )


def shard_block_runtime(wildcards, attempt):
    """Wall time of a block job: a solver job's for the points its blocks hold."""
    shard = shard_setting(wildcards)
    points = -(-int(wildcards.n) // shard["blocks"]) * shard["blocks_per_job"]
    name, _, d = solver_size(wildcards)
    return job_requests.solver_runtime(
        name,
        points,
        d,
        attempt,
        config["resources"]["solve_runtime"],
        method_params(wildcards),
    )


def prepared_data(wildcards):
    return DATASETS[wildcards.dataset].format(n=wildcards.n, seed=wildcards.seed)


# Resources of solver jobs, all known when the DAG is built.
# - Locally every solver job that solves takes all cores (`threads`), so a timed solve never
#   shares the CPU, or a GPU, with another job, whatever --resources grants; a skipped run
#   (it only writes its record) takes one.
# - On a cluster: JAX methods get `resources.solve_threads` CPUs and `resources.gpu` GPUs
#   (which routes them to a GPU partition), host methods (SciPy, POT) and skipped runs one
#   CPU and no GPU; memory and wall time grow with n, d, method and attempt
#   (hiref.resources), so a retry asks for more. Small runs and skipped runs form two
#   groups, so a cluster receives a few submissions, not one per run (profiles/default).
def solver_kind(wildcards):
    """'skipped' (known from the settings and n), 'jax' or 'host'."""
    n = int(wildcards.n)
    if registry.skip_reason(wildcards.method, method_params(wildcards), n, n) is not None:
        return "skipped"
    name, _ = registry.parse_label(wildcards.method)
    return "jax" if registry.METHODS[name].uses_jax else "host"


def solver_size(wildcards):
    """(method name, n, d) of a run; d of an unregistered dimension is sized generously."""
    name, _ = registry.parse_label(wildcards.method)
    d = DIMENSIONS.get(wildcards.dataset) or job_requests.UNKNOWN_DIMENSION
    return name, int(wildcards.n), d


def timed_job_threads(cluster_threads):
    """Threads of a timed job: every local core (so it runs alone), or `cluster_threads`."""
    return workflow.cores if workflow.local_exec else cluster_threads


def solve_threads(wildcards):
    kind = solver_kind(wildcards)
    if kind == "skipped":
        return 1
    return timed_job_threads(config["resources"]["solve_threads"] if kind == "jax" else 1)


def solve_gpu(wildcards):
    return config["resources"]["gpu"] if solver_kind(wildcards) == "jax" else 0


def solve_mem_mb(wildcards, attempt):
    if solver_kind(wildcards) == "skipped":
        return job_requests.SKIPPED_MEM_MB
    return job_requests.solver_mem_mb(
        *solver_size(wildcards),
        attempt,
        config["resources"]["solve_mem_mb"],
        method_params(wildcards),
    )


def solve_runtime(wildcards, attempt):
    if solver_kind(wildcards) == "skipped":
        return job_requests.SKIPPED_RUNTIME
    return job_requests.solver_runtime(
        *solver_size(wildcards),
        attempt,
        config["resources"]["solve_runtime"],
        method_params(wildcards),
    )


def solve_group(wildcards):
    """`small_jax` / `small_host` for skipped runs and runs up to resources.group_max_n
    (grouped on a cluster); None (a job of its own) for larger runs."""
    kind = solver_kind(wildcards)
    if kind != "skipped" and int(wildcards.n) > config["resources"]["group_max_n"]:
        return None
    return "small_jax" if kind == "jax" else "small_host"


def alignment_datasets():
    """2-D datasets of the alignment experiment (pictures need two coordinates)."""
    from hiref.datasets import synthetic

    experiment = config["figures"]["alignment"]
    if experiment is None:
        return []
    names = config["experiments"][experiment]["datasets"]
    return [d for d in names if d in synthetic.PAIRS and synthetic.DIMENSION[d] == 2]


def alignment_inputs(wildcards):
    experiment = config["figures"]["alignment"]
    exp = config["experiments"][experiment]
    n, seed = exp["n"][0], exp["seeds"][0]
    return {
        "data": DATASETS[wildcards.dataset].format(n=n, seed=seed),
        "matchings": [
            f"results/runs/{experiment}/{wildcards.dataset}/{label}/n{n}_seed{seed}.npz"
            for label in config["figures"]["alignment_methods"]
        ],
    }


def final_outputs(wildcards):
    """Default targets: the tables of every experiment in `run`, the figures, and the outputs
    of every study in `run`."""
    run_experiments = [name for name in config["run"] if name not in STUDIES]
    out = expand("results/tables/{experiment}.{ext}", experiment=run_experiments, ext=["csv", "md"])
    for name in config["run"]:
        out += STUDIES.get(name, [])
    if config["figures"]["runtime_scaling"] in config["run"]:
        out += expand("results/figures/runtime_scaling.{ext}", ext=["png", "pdf"])
    if config["figures"]["alignment"] in config["run"]:
        out += expand(
            "results/figures/alignment_{dataset}.{ext}",
            dataset=alignment_datasets(),
            ext=["png", "pdf"],
        )
    return out


wildcard_constraints:
    # Only configured experiments: a study's results/tables/<study>.* is not gather_tables'.
    experiment="|".join(map(re.escape, config["experiments"])),
    dataset=r"[A-Za-z0-9_.\-]+",
    method=registry.label_pattern(),
    n=r"\d+",
    seed=r"\d+",
