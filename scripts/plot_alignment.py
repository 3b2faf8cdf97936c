"""Matched pairs of each method on one 2-D dataset (rule plot_alignment)."""

import numpy as np

from hiref.datasets import load_pair
from hiref.provenance import atomic_path, job_log
from hiref.report import figures

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    x, y = load_pair(sm.input.data)
    perms = {}
    for label, path in zip(sm.params.methods, sm.input.matchings):
        perm = np.load(path)["perm"]
        if perm.size:  # skipped runs and plan methods have no matching to draw
            perms[label] = perm
    with atomic_path(sm.output.png) as png, atomic_path(sm.output.pdf) as pdf:
        figures.alignment(x, y, perms, sm.params.lines, [png, pdf])
