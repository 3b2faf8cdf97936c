"""Samples one synthetic pair (rule simulate_points)."""

from hiref.datasets import save_pair, synthetic
from hiref.provenance import job_log

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    x, y = synthetic.sample_pair(sm.wildcards.dataset, int(sm.wildcards.n), int(sm.wildcards.seed))
    save_pair(sm.output[0], x, y, seed=int(sm.wildcards.seed))
