"""Seconds and costs of the FRLC and entropic mini-batch baselines against Sinkhorn and exact OT
on the authors' pair (half-moon -> S-curve, seed 0), through the workflow's method registry.

    python bench/bench_baselines.py --sizes 4096 16384 --out bench/results/baselines.json

Every run goes through ``hiref.methods.run`` with registry defaults (FRLC: the authors' MOSTA
settings, rank 40; Sinkhorn: ott's relative epsilon; mini-batch: the authors' entropic
estimator), so ``seconds`` exclude compilation (kept as ``compile_seconds``). Exact OT runs
up to ``--exact-max-n``. The machine's load average is recorded before and after each run:
on a shared machine timings are disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from hiref import methods
from hiref.datasets import synthetic


def measure(label: str, x, y, cost: str, seed: int) -> dict:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = methods.run(label, x, y, methods.resolve_params(label, {}, cost), seed)
    return {
        "method": label, "cost": cost, "n": len(x), "status": result.status,
        "reason": result.reason, "cost_p1": result.cost_p1, "cost_p2": result.cost_p2,
        "seconds": result.seconds, "compile_seconds": result.compile_seconds,
        "wall_seconds": time.perf_counter() - t0, "load_before": load,
        "load_after": os.getloadavg()[0],
        "extra": {k: v for k, v in result.extra.items() if not isinstance(v, list)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--costs", nargs="+", default=["euclidean", "sqeuclidean"])
    parser.add_argument("--methods", nargs="+", default=["frlc", "sinkhorn", "exact"])
    parser.add_argument("--minibatch", nargs="*", default=["minibatch-128"],
                        help="mini-batch labels run at the largest size, per cost")
    parser.add_argument("--exact-max-n", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/baselines.json"))
    args = parser.parse_args()

    rows = []
    for n in args.sizes:
        x, y = synthetic.sample_pair("halfmoon_scurve", n, seed=args.seed)
        labels = [m for m in args.methods if m != "exact" or n <= args.exact_max_n]
        if n == max(args.sizes):
            labels += args.minibatch
        for cost in args.costs:
            for label in labels:
                rows.append(measure(label, x, y, cost, args.seed))
                print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "pair": "halfmoon_scurve", "seed": args.seed, "runs": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
