"""Solver seconds and cost against n, ours beside the paper's where its settings match
(rule plot_runtime_scaling); the figure's data is written as a CSV beside it."""

import pandas as pd

from hiref.provenance import atomic_path, job_log
from hiref.report import figures, published

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    data = figures.runtime_scaling_data(pd.read_csv(sm.input.runs), published.load())
    with atomic_path(sm.output.csv) as csv:
        data.to_csv(csv, index=False)
    with atomic_path(sm.output.png) as png, atomic_path(sm.output.pdf) as pdf:
        figures.runtime_scaling(data, [png, pdf])
