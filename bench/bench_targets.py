"""The solver's speed targets, measured side by side with a previous commit's solver.

Each (case, solver) runs in a fresh process that imports ``hiref`` from the given source
tree, so compilation, the first call and peak memory are measured per run. The previous
solver comes from ``git archive <commit> src`` unpacked into a temporary folder. The
machine's load average is recorded before and after every run (timings on a shared machine
are disturbed by the load; compare the two solvers within one run of this script). Run on
demand, not in CI:

    .venv/bin/python bench/bench_targets.py --before HEAD~1 --out bench/results/targets.json

Cases (default HiRefConfig, seed 0):
  uniform_4096: X ~ U[0,1]^2, Y ~ U[0.3,1.1]^2, n = 4096, squared Euclidean: first call in a
    fresh process without a persistent compilation cache, then a warm call; cost against
    SciPy's exact assignment.
  uniform_2^16, halfmoon_2^16: the pairs above at n = 2^16 (issue 22's 2-D time target): a
    first call, then the fastest of three warm calls.
  clusters30_4096, digits_898: issue 22's high-dimensional quality targets: two samples of
    ten overlapping unit Gaussians in 30-D (``synthetic.shared_clusters``), n = 4096, and
    scikit-learn's 8x8 digits split into two disjoint halves (64-D, n = 898, as
    ``bench_hiref.py``); a first call, then the fastest of three warm calls; cost against
    SciPy's exact assignment.
  halfmoon_2^20: half-moon -> S-curve, n = 2^20, squared Euclidean, one call.
  halfmoon_2^17_leaf2048: half-moon -> S-curve, n = 2^17, the size of the authors' last level
    as exact leaves, HiRefConfig(max_leaf=2048, max_rank=64), one call.
  gmm128_2^18: two 8-component Gaussian mixtures in 128-D, n = 2^18, squared Euclidean,
    one call.
  wide_2^16x2048: ImageNet-shaped float32 clouds (two 8-component mixtures in 2048-D, 512 MB
    per cloud), n = 2^16, squared Euclidean, one call: peak memory against the clouds' size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import before_after
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ("uniform_4096", "uniform_2^16", "halfmoon_2^16", "clusters30_4096", "digits_898",
         "halfmoon_2^20", "halfmoon_2^17_leaf2048", "gmm128_2^18", "wide_2^16x2048")
#: Warm calls timed after the first, by case (the record keeps the fastest).
WARM_CALLS = {"uniform_4096": 1, "uniform_2^16": 3, "halfmoon_2^16": 3, "clusters30_4096": 3,
              "digits_898": 3}
#: Cases whose cost is set against the exact assignment's.
EXACT_CASES = ("uniform_4096", "clusters30_4096", "digits_898")
#: Settings other than the default, by case.
CONFIGS = {"halfmoon_2^17_leaf2048": {"max_leaf": 2048, "max_rank": 64}}


def make_case(case: str) -> tuple[np.ndarray, np.ndarray]:
    if case in ("uniform_4096", "uniform_2^16"):
        n = 4096 if case == "uniform_4096" else 2**16
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(n, 2)).astype(np.float32)
        y = (0.3 + 0.8 * rng.uniform(size=(n, 2))).astype(np.float32)
        return x, y
    from hiref.datasets import synthetic

    if case == "halfmoon_2^16":
        return synthetic.halfmoon_scurve(2**16, 0)
    if case == "clusters30_4096":
        return synthetic.shared_clusters(4096, 0, dim=30)
    if case == "digits_898":
        from bench_hiref import digits_halves

        return digits_halves(898, 0)
    if case == "halfmoon_2^20":
        return synthetic.halfmoon_scurve(2**20, 0)
    if case == "halfmoon_2^17_leaf2048":
        return synthetic.halfmoon_scurve(2**17, 0)
    if case == "wide_2^16x2048":
        return synthetic.gaussian_mixtures(2**16, 0, dim=2048)
    return synthetic.gaussian_mixtures(2**18, 0, dim=128)


def run_case(case: str) -> dict:
    """One case with the ``hiref`` on ``sys.path``; runs in its own process."""
    x, y = make_case(case)
    load_before = os.getloadavg()
    import hiref

    record = {"case": case, "load_before": load_before, "hiref_file": hiref.__file__,
              "input_mb": (x.nbytes + y.nbytes) / 2**20,
              "rss_before_solve_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    config = hiref.HiRefConfig(**CONFIGS.get(case, {}))
    start = time.perf_counter()
    first = hiref.solve(x, y, seed=0, config=config)
    record["first_call_wall"] = time.perf_counter() - start
    walls = []
    for _ in range(WARM_CALLS.get(case, 0)):
        start = time.perf_counter()
        warm = hiref.solve(x, y, seed=0, config=config)
        walls.append(time.perf_counter() - start)
    if walls:
        record.update(warm_call_wall=min(walls), warm_call_walls=walls,
                      warm_seconds=warm.seconds)
    record.update(
        seconds=first.seconds, compile_seconds=getattr(first, "compile_seconds", None),
        cost_p2=first.cost_p2, schedule=first.schedule, level_seconds=first.level_seconds,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        load_after=os.getloadavg(), config=first.config.to_dict(),
    )
    return record


def exact_cost(x: np.ndarray, y: np.ndarray) -> float:
    """The optimal mean squared distance (SciPy's assignment on the distances, built a chunk
    of rows at a time)."""
    from scipy.optimize import linear_sum_assignment

    from hiref import costs

    cost = costs.difference_costs(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                  "sqeuclidean")
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD~1", help="commit of the previous solver")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/targets.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one)))
        return

    out = before_after.run_cases(__file__, args.cases, args.before)
    records = out["runs"]
    for case in set(args.cases) & set(EXACT_CASES):
        best = exact_cost(*make_case(case))
        for record in records:
            if record["case"] == case:
                record["exact_cost_p2"] = best
                record["ratio_to_exact"] = record["cost_p2"] / best
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    for record in records:
        print(f"{record['case']:>14} {record['solver']:>6}: first call "
              f"{record['first_call_wall']:.2f} s, seconds {record['seconds']:.2f}, compile "
              f"{record['compile_seconds']}, warm {record.get('warm_call_wall')}, cost "
              f"{record['cost_p2']:.6f}, ratio {record.get('ratio_to_exact')}, peak "
              f"{record['peak_rss_mb']:.0f} MB, load {record['load_before'][0]:.2f}")


if __name__ == "__main__":
    main()
