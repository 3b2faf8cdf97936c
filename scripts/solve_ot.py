"""Runs one method on one prepared dataset and writes its record (rule solve_ot)."""

import time
from contextlib import redirect_stderr
from pathlib import Path

import hiref
from hiref import accelerator, records

sm = snakemake  # noqa: F821 (the object Snakemake injects)
# Line-buffered: progress lines reach the log while a long solve runs.
with open(sm.log[0], "w", buffering=1) as log, redirect_stderr(log):
    # Which hiref ran (the workflow's own src/: rules/common.smk puts it first on the path)
    # and when the job started (epoch seconds: solver jobs never overlap locally).
    print(f"hiref {hiref.__version__} from {Path(hiref.__file__).parent}, job started at "
          f"{time.time():.3f}", file=log)
    # The rule grants a GPU only to JAX methods that run (not to skipped runs).
    accelerator.require_gpu(sm.resources.get("gpu", 0), accelerator.jax_gpus(), "jax")
    precision = accelerator.configure_jax()
    print(f"JAX float32 matmul precision: {precision}", file=log)
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
