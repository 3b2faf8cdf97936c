"""Seconds and peak memory against n (rule plot_runtime_scaling)."""

from contextlib import redirect_stderr

import pandas as pd

from hiref.provenance import atomic_path
from hiref.report import figures

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w") as log, redirect_stderr(log):
    runs = pd.read_csv(sm.input.runs)
    with atomic_path(sm.output.png) as png, atomic_path(sm.output.pdf) as pdf:
        figures.runtime_scaling(runs, [png, pdf])
