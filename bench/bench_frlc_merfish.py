"""FRLC as the authors ran it on MERFISH, at the MERFISH shape: time, peak RSS and cost.

    python bench/bench_frlc_merfish.py --n 8192 --out bench/results/frlc_merfish_8192.json

The authors' MERFISH baseline is FRLC rank 500 on the dense, max-normalised Euclidean cost of
84172 x 84172 cell centroids (gamma 200, 20 iterations, inner 300 / 300, tau_in 500); the
settings come from ``experiments.merfish.settings.frlc`` of ``--config`` with ``cost_form``
``dense_tiled`` (the dense cost, never held whole). The data are a synthetic clustered 2-D
pair shaped like two slices of one tissue (:func:`tissue_pair`), not MERFISH. ``--iters``
overrides the 20 iterations (min = max) to time a few iterations at the full size, where 20
take hours on a CPU; every outer iteration is logged with its time stamp (stderr), so the time
of one iteration is the gap between two log lines.

Every run goes through ``hiref.methods.run``, so ``seconds`` excludes JIT compilation
(``compile_seconds``); ``scoring_seconds`` is the rest of the call (the rounded plan's cost,
the argmax map, the unrounded plan's cost). Peak RSS is the process's maximum resident set.
The machine's load average is recorded: on a shared machine timings are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import yaml

#: Extent of the synthetic slice (micrometres, half-axes of an ellipse), like a coronal
#: section of a mouse brain.
SLICE_HALF_AXES = (5000.0, 3500.0)
#: Cell-type clusters of the synthetic slice and the share of cells outside any cluster.
CLUSTERS, BACKGROUND = 40, 0.3


def tissue_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two slices of one synthetic tissue, ``n`` cells each (float32, micrometres).

    A layout of :data:`CLUSTERS` anisotropic Gaussian clusters (standard deviations 100-600
    um) inside an ellipse of half-axes :data:`SLICE_HALF_AXES`, plus :data:`BACKGROUND` of the
    cells uniform in the ellipse; each slice is an independent draw of that layout, the second
    rotated by 3 degrees and stretched by 3 % (slice-to-slice deformation after registration).
    """
    rng = np.random.default_rng(seed)
    half_axes = np.asarray(SLICE_HALF_AXES)

    def in_ellipse(count):
        radius, angle = np.sqrt(rng.random(count)), 2 * np.pi * rng.random(count)
        return half_axes * radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)

    centres = 0.8 * in_ellipse(CLUSTERS)
    spreads = rng.uniform(100.0, 600.0, (CLUSTERS, 2))
    weights = rng.dirichlet(np.full(CLUSTERS, 2.0))

    def draw():
        background = rng.random(n) < BACKGROUND
        labels = rng.choice(CLUSTERS, n, p=weights)
        cells = centres[labels] + spreads[labels] * rng.standard_normal((n, 2))
        cells[background] = in_ellipse(int(background.sum()))
        return cells

    theta = np.deg2rad(3.0)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return draw().astype(np.float32), (1.03 * draw() @ rotation.T).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=84172)
    parser.add_argument("--iters", type=int, default=None,
                        help="outer iterations (min = max); default: the configured 20")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from hiref import methods, provenance
    from hiref.methods.common import log

    settings = yaml.safe_load(args.config.read_text())["experiments"]["merfish"]["settings"]
    settings = {**settings["frlc"], "cost_form": "dense_tiled"}
    if args.iters is not None:
        settings.update(max_iter=args.iters, min_iter=args.iters)
    params = methods.resolve_params("frlc", settings, "euclidean")
    x, y = tissue_pair(args.n, args.seed)
    load = os.getloadavg()[0]
    log(f"bench_frlc_merfish: n = {args.n}, params = {params}")
    t0 = time.perf_counter()
    result = methods.run("frlc", x, y, params, args.seed)
    wall = time.perf_counter() - t0
    out = {
        "data": f"synthetic tissue pair (bench_frlc_merfish.tissue_pair, seed {args.seed})",
        "n": args.n, "params": params, "status": result.status,
        "cost_p1": result.cost_p1, "cost_p2": result.cost_p2,
        "seconds": result.seconds, "compile_seconds": result.compile_seconds,
        "scoring_seconds": wall - result.seconds - result.compile_seconds,
        "wall_seconds": wall, "peak_rss_mb": provenance.peak_rss_mb(),
        "extra": result.extra, "load_before": load, "load_after": os.getloadavg()[0],
        "cpus": os.cpu_count(), "machine": platform.machine(),
        "device": provenance.device(True), "git_commit": provenance.git_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    log(f"bench_frlc_merfish: wrote {args.out}")


if __name__ == "__main__":
    main()
