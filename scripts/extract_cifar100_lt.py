"""Long-tailed CIFAR-100 subset -> PNG zip for the ResNet50 embedding + labels
(rule extract_cifar100_lt)."""

from hiref.provenance import job_log
from hiref.studies.clustering import datasets

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    datasets.extract_cifar100_lt(
        sm.input.archive, ratio=sm.params.imbalance_ratio, seed=sm.params.seed,
        images=sm.output.images, labels=sm.output.labels,
    )
