"""Samples one synthetic pair (rule simulate_points)."""

from contextlib import redirect_stderr

from hiref.datasets import save_pair, synthetic

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w") as log, redirect_stderr(log):
    x, y = synthetic.sample_pair(sm.wildcards.dataset, int(sm.wildcards.n), int(sm.wildcards.seed))
    save_pair(sm.output[0], x, y, seed=int(sm.wildcards.seed))
