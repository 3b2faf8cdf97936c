"""Samples one synthetic pair (rule simulate_points)."""

import sys

from hiref.datasets import save_pair, synthetic

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (the object Snakemake injects)
wc = snakemake.wildcards  # noqa: F821
x, y = synthetic.sample_pair(wc.dataset, int(wc.n), int(wc.seed))
save_pair(snakemake.output[0], x, y, seed=int(wc.seed))  # noqa: F821
