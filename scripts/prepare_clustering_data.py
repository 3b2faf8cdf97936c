"""Prepares one dataset of the imbalanced-clustering study (rule prepare_clustering_data)."""

from hiref.provenance import job_log
from hiref.studies.clustering import datasets

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    datasets.prepare(sm.wildcards.dataset, sm.params.settings, dict(sm.input), sm.output[0])
