"""Seconds and peak memory against n (rule plot_runtime_scaling)."""

import sys

import pandas as pd

from hiref.provenance import atomic_path
from hiref.report import figures

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (injected by Snakemake)
runs = pd.read_csv(snakemake.input.runs)  # noqa: F821
with atomic_path(snakemake.output.png) as png, atomic_path(snakemake.output.pdf) as pdf:  # noqa: F821
    figures.runtime_scaling(runs, [png, pdf])
