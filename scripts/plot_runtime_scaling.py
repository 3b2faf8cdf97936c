"""Solver seconds and cost against n, ours beside the paper's (rule plot_runtime_scaling)."""

from contextlib import redirect_stderr

import pandas as pd

from hiref.provenance import atomic_path
from hiref.report import figures, published

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w") as log, redirect_stderr(log):
    runs = pd.read_csv(sm.input.runs)
    with atomic_path(sm.output.png) as png, atomic_path(sm.output.pdf) as pdf:
        figures.runtime_scaling(runs, published.load(), [png, pdf])
