"""The device a workflow job computes on.

Two rules for every job of the workflow that runs JAX or torch:

* **A job that holds a GPU uses it.** Snakemake grants a job ``resources.gpu`` GPUs
  (``--resources gpu=0`` lowers every request to 0 locally; on SLURM the request becomes
  ``--gpus``). A job granted a GPU whose framework sees none stops at once with
  :class:`NoGPUError`, instead of running on the CPU unnoticed. Running CPU-only is a
  choice made where resources are granted: ``--resources gpu=0`` locally, or
  ``resources.gpu: 0`` in the configuration.
* **Float32 matmuls at full precision.** On NVIDIA A100/H100 JAX's default float32 matmul
  uses TF32 (about 3 significant digits); the workflow's JAX jobs set
  ``jax_default_matmul_precision`` to ``"highest"`` (:func:`configure_jax`), so costs and
  low-rank factor products are float32-exact on every device. Library users get the same
  with ``jax.config.update("jax_default_matmul_precision", "highest")`` or the context
  manager ``jax.default_matmul_precision("highest")``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: JAX's matmul precision for the workflow's jobs (see the module docstring).
MATMUL_PRECISION = "highest"
#: Persistent compilation cache of the workflow's JAX jobs, relative to the working directory:
#: jobs of one level shape (seeds, datasets of one n) then compile once per workflow.
JAX_CACHE_DIR = ".snakemake/jax-cache"
#: Compilations at least this long (seconds) enter the cache. JAX's default, 1 s, left out
#: the many sub-second programs of a baseline (LOT compiled for about 2 s in every job of
#: the default run); 0 caches them all.
CACHE_MIN_COMPILE_SECONDS = 0.0
#: What the user can do about a job that holds a GPU its framework cannot see.
INSTALL_HINT = {
    "jax": "install JAX's CUDA build into the job's environment: pip install -e '.[gpu]' "
           "(jax[cuda12] of the pinned jax version)",
    "torch": "install a CUDA build of torch 2.13.0 (PyPI's Linux wheel is one; a CPU-only "
             "index gives a CPU build)",
}


class NoGPUError(RuntimeError):
    """A job was granted a GPU that its framework cannot see."""


def configure_jax() -> str:
    """Settings of every JAX job of the workflow: full-precision float32 matmuls, and the
    persistent compilation cache of every program (unless the user set
    ``JAX_COMPILATION_CACHE_DIR``). Returns the matmul precision now in force."""
    import jax

    jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION)
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        jax.config.update("jax_compilation_cache_dir", str(Path(JAX_CACHE_DIR).resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          CACHE_MIN_COMPILE_SECONDS)
    return jax.config.jax_default_matmul_precision


def jax_gpus() -> int:
    """Number of GPUs JAX can compute on."""
    import jax

    return sum(device.platform == "gpu" for device in jax.devices())


def gpu_problem(granted: int, visible: int, framework: str) -> str | None:
    """The error message for a job granted ``granted`` GPUs of which ``framework`` sees
    ``visible``; ``None`` when nothing is wrong."""
    if granted <= 0 or visible > 0:
        return None
    return (
        f"this job holds {granted} GPU(s) (resources.gpu = {granted}) but {framework} sees "
        f"none, so it would silently run on the CPU. Either {INSTALL_HINT[framework]}, or "
        "run CPU-only knowingly: `snakemake --cores all --resources gpu=0` on one machine "
        "(make run detects this), or `resources: {gpu: 0}` in the configuration on a cluster."
    )


def start_jax_job(granted: int) -> str:
    """The start of every JAX job of the workflow: stops with :class:`NoGPUError` when a job
    granted ``granted`` GPUs sees none (:func:`require_gpu`), applies :func:`configure_jax`
    and logs the matmul precision in force. Returns that precision."""
    from hiref.provenance import log

    require_gpu(granted, jax_gpus(), "jax")
    precision = configure_jax()
    log(f"JAX float32 matmul precision: {precision}")
    return precision


def require_gpu(granted: int, visible: int, framework: str) -> None:
    """Raises :class:`NoGPUError` when a job granted ``granted`` GPUs sees ``visible`` (see
    :func:`gpu_problem`). Scripts count what their framework sees: :func:`jax_gpus`, or
    ``torch.cuda.device_count()`` (kept out of this module, which imports no torch)."""
    problem = gpu_problem(granted, visible, framework)
    if problem is not None:
        raise NoGPUError(problem)
