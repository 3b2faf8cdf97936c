"""Prepares one dataset of the imbalanced-clustering study (rule prepare_clustering_data)."""

from contextlib import redirect_stderr, redirect_stdout

from hiref.studies.clustering import datasets

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):
    datasets.prepare(sm.wildcards.dataset, sm.params.settings, dict(sm.input), sm.output[0])
