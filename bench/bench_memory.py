"""Peak memory and seconds of ``hiref.solve`` in high dimension, a previous commit beside this
tree (docs/memory.md).

Each (case, solver) runs in a fresh process that builds the clouds and imports ``hiref``
from the given source tree. ``peak_rss`` is the process's resident high-water mark during
the solve (Linux's ``VmHWM``, reset once the clouds are built: it counts the input arrays,
JAX's runtime and everything the solve holds, not the generator's temporaries);
``process_peak_rss`` is the whole process's (generation included). The high-water mark is
read and reset at every level's progress report, so each level's peak stands beside its
seconds. The previous solver is ``git archive <commit> src`` unpacked into a temporary
folder. Run on demand, not in CI, under the shared lock for large cases:

    flock /work/locks/bigmem .venv/bin/python bench/bench_memory.py --before 3af5034 \\
        --cases wide_2^16x2048 --out bench/results/memory.json
    flock /work/locks/bigmem .venv/bin/python bench/bench_memory.py --solvers after \\
        --cases imagenet_shape --out bench/results/memory_imagenet.json

Cases (seed 0):
  wide_2^16x2048: two 8-component Gaussian mixtures in 2048-D
    (:func:`hiref.datasets.synthetic.gaussian_mixtures`), n = 2^16 per side (1 GiB of input),
    squared Euclidean, default HiRefConfig.
  wide_2^14x2048: the same at n = 2^14 (a quick check).
  imagenet_shape: the ImageNet experiment's shape, n = 640500 per side in 2048-D (9.8 GiB of
    input), nonnegative clustered embeddings (:func:`embeddings`), Euclidean cost,
    ``hiref.solve`` on the authors' schedule for it ([7, 50, 1830] from max_rank 64 and
    max_leaf 2047, one start, no refinement, 60 mirror-descent steps), generated into
    64-byte aligned arrays, which JAX uses in place.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import before_after
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: ``hiref.solve`` on the authors' ImageNet schedule [7, 50, 1830] (max_rank 64, max_leaf
#: 2047), one start, no refinement, 60 mirror-descent steps: our solver's cheapest
#: configuration at that shape (the method ``hiref`` is the authors' algorithm,
#: docs/authors-hiref.md).
AUTHORS_IMAGENET = {"max_rank": 64, "max_leaf": 2047, "depth": 7, "outer_iters": 60,
                    "top_restarts": 1, "refine_sweeps": 0}
CASES = {
    "wide_2^16x2048": {"n": 2**16, "d": 2048, "cost": "sqeuclidean", "config": {}},
    "wide_2^14x2048": {"n": 2**14, "d": 2048, "cost": "sqeuclidean", "config": {}},
    "imagenet_shape": {"n": 640500, "d": 2048, "cost": "euclidean",
                       "config": AUTHORS_IMAGENET, "aligned": True},
}
#: Bytes of alignment of the generated ImageNet-shaped clouds (JAX's CPU backend uses such
#: arrays without a copy).
ALIGNMENT = 64


def status_bytes(key: str) -> int:
    """A memory figure of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key))


def high_water_mark() -> int:
    """The process's peak resident set size in bytes since the last call, which resets it."""
    peak = status_bytes("VmHWM")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return peak


def aligned_empty(shape: tuple[int, int], dtype) -> np.ndarray:
    """:func:`hiref.aligned.aligned_empty`, repeated here because the bench also imports the
    solvers of commits that predate that module."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def embeddings(n: int, d: int, seed: int, components: int = 1000, chunk: int = 8192):
    """Two samples ``(x, y)`` (n, d) float32 of one mixture of ``components`` Gaussians,
    rectified like ResNet features (nonnegative, many zeros): centres ``|N(0, 1)|`` per
    coordinate, points ``max(0, centre + N(0, 0.5^2))``; written ``chunk`` rows at a time into
    aligned arrays."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.standard_normal((components, d), dtype=np.float32))
    clouds = []
    for _ in range(2):
        out = aligned_empty((n, d), np.float32)
        for start in range(0, n, chunk):
            rows = out[start:start + chunk]
            rng.standard_normal(rows.shape, dtype=np.float32, out=rows)
            rows *= 0.5
            rows += centres[rng.integers(components, size=len(rows))]
            np.maximum(rows, 0.0, out=rows)
        clouds.append(out)
    return tuple(clouds)


def make_case(case: str) -> tuple[np.ndarray, np.ndarray]:
    spec = CASES[case]
    if spec.get("aligned"):
        return embeddings(spec["n"], spec["d"], seed=0)
    from hiref.datasets import synthetic

    return synthetic.gaussian_mixtures(spec["n"], 0, dim=spec["d"])


def run_case(case: str) -> dict:
    """One case with the ``hiref`` on ``sys.path``; runs in its own process."""
    spec = CASES[case]
    import hiref

    x, y = make_case(case)
    record = {"case": case, "hiref_file": hiref.__file__, "load_before": os.getloadavg(),
              "input_bytes": x.nbytes + y.nbytes, "rss_before_solve": status_bytes("VmRSS")}
    high_water_mark()
    peaks, levels = [], []

    def progress(info):
        peaks.append(high_water_mark())
        levels.append({"level": str(info["level"]), "seconds": info["seconds"],
                       "peak_rss": peaks[-1]})
        print(f"{case}: level {info['level']} {info['seconds']:.1f} s, peak "
              f"{peaks[-1] / 2**30:.2f} GiB", file=sys.stderr, flush=True)

    start = time.perf_counter()
    out = hiref.solve(x, y, cost=spec["cost"], config=hiref.HiRefConfig(**spec["config"]),
                      seed=0, progress=progress)
    wall = time.perf_counter() - start
    peaks.append(high_water_mark())
    record.update(
        wall_seconds=wall, seconds=out.seconds, compile_seconds=out.compile_seconds,
        cost_p1=out.cost_p1, cost_p2=out.cost_p2, schedule=out.schedule, levels=levels,
        peak_rss=max(peaks),
        process_peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        load_after=os.getloadavg(), config=out.config.to_dict(), cost=spec["cost"],
    )
    return record


def table(records: list[dict]) -> str:
    header = ("| case | solver | input GiB | before solve GiB | peak RSS GiB | peak / input "
              "| solver s | compile s | cost_p1 | cost_p2 | load |")
    lines = [header, "|---" * 11 + "|"]
    for r in records:
        gib = r["input_bytes"] / 2**30
        lines.append(
            f"| {r['case']} | {r['solver']} | {gib:.2f} | {r['rss_before_solve'] / 2**30:.2f} | "
            f"{r['peak_rss'] / 2**30:.2f} | "
            f"{r['peak_rss'] / r['input_bytes']:.2f} | {r['seconds']:.1f} | "
            f"{r['compile_seconds']:.1f} | {r['cost_p1']:.6g} | {r['cost_p2']:.7g} | "
            f"{r['load_before'][0]:.1f}-{r['load_after'][0]:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD~1", help="commit of the previous solver")
    parser.add_argument("--solvers", nargs="+", default=list(before_after.SOLVERS),
                        choices=before_after.SOLVERS)
    parser.add_argument("--cases", nargs="+", default=["wide_2^16x2048"], choices=list(CASES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/memory.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one)))
        return

    out = before_after.run_cases(__file__, args.cases, args.before, tuple(args.solvers))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(table(out["runs"]))


if __name__ == "__main__":
    main()
