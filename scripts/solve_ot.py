"""Runs one method on one prepared dataset and writes its record (rule solve_ot)."""

import os
from contextlib import redirect_stderr
from pathlib import Path

import jax

from hiref import records

# Every job of one level shape (each seed, each dataset of one n) then compiles once per
# workflow instead of once per job; a user's own JAX_COMPILATION_CACHE_DIR wins.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    jax.config.update("jax_compilation_cache_dir", str(Path(".snakemake/jax-cache").resolve()))

sm = snakemake  # noqa: F821 (the object Snakemake injects)
# Line-buffered: progress lines reach the log while a long solve runs.
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log):
    records.solve_and_record(
        data=sm.input.data,
        record=sm.output.record,
        matching=sm.output.matching,
        experiment=sm.wildcards.experiment,
        dataset=sm.wildcards.dataset,
        method=sm.params.method,
        params=sm.params.settings,
        n=int(sm.wildcards.n),
        seed=int(sm.wildcards.seed),
    )
