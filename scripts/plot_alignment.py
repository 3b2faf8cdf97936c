"""Matched pairs of each method on one 2-D dataset (rule plot_alignment)."""

import sys

import numpy as np

from hiref.datasets import load_pair
from hiref.provenance import atomic_path
from hiref.report import figures

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (injected by Snakemake)
x, y = load_pair(snakemake.input.data)  # noqa: F821
perms = {}
for label, path in zip(snakemake.params.methods, snakemake.input.matchings):  # noqa: F821
    perm = np.load(path)["perm"]
    if perm.size:  # skipped runs and plan methods have no matching to draw
        perms[label] = perm
with atomic_path(snakemake.output.png) as png, atomic_path(snakemake.output.pdf) as pdf:  # noqa: F821
    figures.alignment(x, y, perms, snakemake.params.lines, [png, pdf])  # noqa: F821
