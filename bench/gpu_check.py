"""GPU check of HiRef (`make gpu-check`): seconds, peak device memory and cost on a CUDA GPU.

Problems (issue 12): half-moon -> S-curve at 2^20 and 2^22 points in 2-D, and at 2^17 with
exact leaves of 2048 points (issue 22's large leaves, the device leaf solver with its
potentials), Gaussian mixtures at 2^20 points in 128-D, and the ImageNet-shaped problem (n = 640500 per side, d = 2048, the
authors' schedule [7, 50, 1830], synthetic Gaussian embeddings, Euclidean cost as the
paper's ImageNet experiment). Each runs in its own process (so peak device memory is its
own), solved twice: cold (compilation included) and warm. Results go to a JSON file:

    .venv/bin/python bench/gpu_check.py --out bench/results/gpu_check.json

On a machine where JAX sees no GPU it measures nothing and exits with status 2 and a message
saying how to get one. ``--smoke`` runs the same code on tiny versions of the problems on any
device (for the test suite; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

NO_GPU_STATUS = 2


@dataclass(frozen=True)
class Problem:
    pair: str  # "halfmoon_scurve", "gaussian_mixtures" or "gaussian_embeddings"
    n: int
    d: int
    cost: str
    schedule: tuple[int, ...] | None = None  # None: hiref's automatic schedule
    max_leaf: int | None = None  # None: HiRefConfig's default


PROBLEMS = {
    "halfmoon_2d_2^20": Problem("halfmoon_scurve", 2**20, 2, "sqeuclidean"),
    "halfmoon_2d_2^22": Problem("halfmoon_scurve", 2**22, 2, "sqeuclidean"),
    "halfmoon_2d_2^17_leaf2048": Problem("halfmoon_scurve", 2**17, 2, "sqeuclidean",
                                         max_leaf=2048),
    "gaussian_mixtures_128d_2^20": Problem("gaussian_mixtures", 2**20, 128, "sqeuclidean"),
    "imagenet_shaped": Problem("gaussian_embeddings", 640500, 2048, "euclidean",
                               schedule=(7, 50), max_leaf=2048),
}
#: The same problems, tiny: exercises this script on any device (the test suite).
SMOKE = {
    "halfmoon_2d_2^20": Problem("halfmoon_scurve", 512, 2, "sqeuclidean"),
    "halfmoon_2d_2^17_leaf2048": Problem("halfmoon_scurve", 2048, 2, "sqeuclidean",
                                         max_leaf=1024),
    "imagenet_shaped": Problem("gaussian_embeddings", 7 * 5 * 8, 16, "euclidean",
                               schedule=(7, 5), max_leaf=16),
}


def gaussian_embeddings(n: int, d: int, seed: int, components: int = 1000):
    """Embedding-like clouds: two samples of one mixture of ``components`` Gaussians in d-D,
    float32 throughout (the ImageNet-shaped pair is 2 x 5.2 GB)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, d), dtype=np.float32)

    def sample():
        out = rng.standard_normal((n, d), dtype=np.float32)
        out *= 0.5
        out += centres[rng.integers(components, size=n)]
        return out

    return sample(), sample()


def sample(problem: Problem, seed: int):
    from hiref.datasets import synthetic

    if problem.pair == "halfmoon_scurve":
        return synthetic.halfmoon_scurve(problem.n, seed)
    if problem.pair == "gaussian_mixtures":
        return synthetic.gaussian_mixtures(problem.n, seed, dim=problem.d)
    return gaussian_embeddings(problem.n, problem.d, seed)


def gpu_devices() -> list:
    import jax

    return [device for device in jax.devices() if device.platform == "gpu"]


def run_one(problem: Problem, seed: int) -> dict:
    """Solves ``problem`` cold, then warm; seconds, peak device memory and cost."""
    import jax

    import hiref
    from hiref import accelerator

    accelerator.configure_jax()  # full float32 precision, as the workflow's jobs
    x, y = sample(problem, seed)
    changes = {k: v for k, v in (("schedule", problem.schedule), ("max_leaf", problem.max_leaf))
               if v is not None}
    config = hiref.HiRefConfig().replace(**changes)
    device = jax.devices()[0]
    start = time.perf_counter()
    hiref.solve(x, y, cost=problem.cost, config=config, seed=seed)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    out = hiref.solve(x, y, cost=problem.cost, config=config, seed=seed)
    warm = time.perf_counter() - start
    stats = device.memory_stats() or {}
    return {
        **asdict(problem), "seed": seed, "device": f"{device.platform}:{device.device_kind}",
        "cold_seconds": cold, "warm_seconds": warm, "level_seconds": out.level_seconds,
        "solver_seconds": out.seconds, "schedule_used": out.schedule,
        "peak_device_memory_bytes": stats.get("peak_bytes_in_use"),
        "cost_p1": out.cost_p1, "cost_p2": out.cost_p2, "config": out.config.to_dict(),
    }


def machine() -> dict:
    import jax

    from hiref.provenance import git_commit, versions

    return {"platform": platform.platform(), "devices": [str(d) for d in jax.devices()],
            "versions": versions(), "git_commit": git_commit(Path(__file__).parent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/gpu_check.json"))
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny problems on any device (tests only; numbers mean nothing)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    problems = SMOKE if args.smoke else PROBLEMS
    if args.one:  # child process: one problem, JSON on stdout
        print(json.dumps(run_one(problems[args.one], args.seed)))
        return
    if not args.smoke and not gpu_devices():
        import jax

        sys.stderr.write(
            f"gpu_check: JAX sees no GPU (devices: {jax.devices()}); nothing was measured. "
            "Run it on a CUDA machine after `pip install -e '.[gpu]'` (jax[cuda12]).\n"
        )
        sys.exit(NO_GPU_STATUS)
    results = {"machine": machine(), "smoke": args.smoke, "runs": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in (p for p in args.problems if p in problems):
        cmd = [sys.executable, __file__, "--one", name, "--seed", str(args.seed)]
        proc = subprocess.run(cmd + ["--smoke"] * args.smoke, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            sys.exit(f"gpu_check: {name} failed:\n{proc.stderr[-3000:]}")
        run = {"name": name, **json.loads(proc.stdout.splitlines()[-1])}
        results["runs"].append(run)
        args.out.write_text(json.dumps(results, indent=2) + "\n")  # after every problem
        print(f"{name}: n = {run['n']}, d = {run['d']}, cold {run['cold_seconds']:.1f} s, "
              f"warm {run['warm_seconds']:.1f} s, peak device memory "
              f"{(run['peak_device_memory_bytes'] or 0) / 2**30:.2f} GiB, "
              f"W1 {run['cost_p1']:.6g}, W2 {run['cost_p2']:.6g}", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
