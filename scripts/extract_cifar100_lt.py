"""Long-tailed CIFAR-100 subset -> PNG zip for the ResNet50 embedding + labels
(rule extract_cifar100_lt)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.clustering import datasets

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):
    datasets.extract_cifar100_lt(
        sm.input.archive, ratio=sm.params.imbalance_ratio, seed=sm.params.seed,
        images=sm.output.images, labels=sm.output.labels,
    )
