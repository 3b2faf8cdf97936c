# Configuration checks, the dataset registry, input functions and wildcard constraints.
import os
import re
from pathlib import Path

from snakemake.utils import validate

from hiref import methods as registry

# Schema first: unknown keys, wrong types or empty lists fail here, naming the key,
# before any job runs; validate() also fills in every default the schema declares.
validate(config, "../config/schema.yaml")

# Scripts import the workflow's own `hiref` (src/) even inside `--use-conda` environments,
# where the package is not installed; jobs inherit this environment variable.
# (Set, not read: nothing is required from the caller's environment.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")])
    )
)
# One compilation cache for all JAX jobs: repeated shapes (seeds, datasets) skip XLA.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(".snakemake/jax-cache").resolve()))


# Every dataset an experiment may name -> the prepared file `solve_ot` reads, as a template
# that may use {n} and {seed}. rules/synthetic.smk registers the synthetic pairs; a rules
# file for other data adds its names the same way, beside the step that writes the file.
DATASETS = {}


def register_datasets(names, template):
    for name in names:
        DATASETS[name] = template.replace("{dataset}", name)


# Studies that are not OT-method experiments (their own rules, config section and outputs):
# name -> the files `rule all` builds when `run` names the study. A rules file registers
# its study beside its rules, as with datasets.
STUDIES = {}


def register_study(name, targets):
    STUDIES[name] = list(targets)


def check_experiments():
    """Experiment names, datasets and methods exist; raises one clear message otherwise.

    Called from the Snakefile after every rules file is included (all datasets registered).
    """
    experiments = config["experiments"]
    problems = []

    def unknown(key, values, allowed):
        for value in values:
            if value not in allowed:
                problems.append(
                    f"{key}: unknown name {value!r}; allowed: {', '.join(sorted(allowed))}"
                )

    unknown("run", config["run"], {**experiments, **STUDIES})
    for fig in ("runtime_scaling", "alignment"):
        if config["figures"][fig] is not None:
            unknown(f"figures.{fig}", [config["figures"][fig]], experiments)
    for name, exp in experiments.items():
        unknown(f"experiments.{name}.datasets", exp["datasets"], DATASETS)
        for label in exp["methods"]:
            try:
                registry.parse_label(label)
            except ValueError:
                problems.append(
                    f"experiments.{name}.methods: unknown method {label!r}; allowed: "
                    + ", ".join(registry.labels_help())
                )
        unknown(f"experiments.{name}.settings", exp["settings"], registry.METHODS)
    for label in config["figures"]["alignment_methods"]:
        unknown("figures.alignment_methods", [label.split("-")[0]], registry.METHODS)
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))


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
            experiment=experiment, dataset=dataset, method=method_labels(experiment),
            n=dataset_sizes(experiment, dataset), seed=exp["seeds"],
        )
    ]


def method_params(wildcards):
    """Complete settings of one run: defaults < methods.<name> < experiment settings."""
    exp = config["experiments"][wildcards.experiment]
    name, _ = registry.parse_label(wildcards.method)
    settings = {**config["methods"][name], **exp["settings"].get(name, {})}
    return registry.resolve_params(wildcards.method, settings, exp["cost"])


def prepared_data(wildcards):
    return DATASETS[wildcards.dataset].format(n=wildcards.n, seed=wildcards.seed)


def solver_gpus(wildcards):
    # CPU-only methods (SciPy, POT) never hold a GPU slot, so they run beside JAX jobs.
    name, _ = registry.parse_label(wildcards.method)
    return config["resources"]["gpu"] if registry.METHODS[name].uses_jax else 0


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
            dataset=alignment_datasets(), ext=["png", "pdf"],
        )
    return out


wildcard_constraints:
    # Only configured experiments: a study's results/tables/<study>.* is not gather_tables'.
    experiment="|".join(map(re.escape, config["experiments"])),
    dataset=r"[A-Za-z0-9_.\-]+",
    method=registry.label_pattern(),
    n=r"\d+",
    seed=r"\d+",
