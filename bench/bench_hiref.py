"""HiRef benchmark: time, peak memory and cost against exact OT and POT's BSP-OT.

Every (pair, n) runs in its own process so that peak RSS and compilation are measured per
run. Results go to a JSON file (machine, versions, one record per run) and a Markdown table
is printed: HiRef and BSP-OT run in the same process one after the other, so their ratios are
fair on a shared machine (the 1-minute load average before and after is recorded); "HiRef /
best" divides by the lowest cost any method of the run reached (exact OT where it ran). Run
on demand, not in CI:

    .venv/bin/python bench/bench_hiref.py --pairs halfmoon_scurve gaussian_mixtures_32d \
        --log2n 10 12 14 16 18 20 --out bench/results/hiref.json

``--splits auto lowrank`` solves each pair with each ``HiRefConfig.split`` in the same
process (one record each, sharing the BSP-OT and exact runs): before and after in one run.
``--settings`` does the same for other ``HiRefConfig`` settings, each a comma-separated list
of ``name=value`` (``default``: none changed). With ``--repeats k`` every warm HiRef call and
every BSP-OT run is made k times: the fastest time is kept, and BSP-OT's cost is the mean of
its runs (POT's BSP-OT is not deterministic under a fixed seed: its cost varies by a few 1e-5
between runs). ``--tradeoff`` then also prints, for each
(pair, n), every HiRef setting and BSP-OT plan count ordered by time, with the points that
no other is both faster and cheaper than marked: the time-cost trade-off of the two methods.

    .venv/bin/python bench/bench_hiref.py --pairs uniform_squares --log2n 16 --exact-max 0 \
        --settings default refine_tol=3e-5 max_leaf=32,refine_tol=1e-5 \
        --bspot-plans 8 16 32 64 128 --repeats 3 --tradeoff \
        --out bench/results/tradeoff.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def digits_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (64-d, no download): two disjoint seeded halves."""
    from sklearn.datasets import load_digits

    data = load_digits().data.astype(np.float32)
    if 2 * n > len(data):
        sys.exit(f"digits_64d has {len(data)} images: n must be at most {len(data) // 2}")
    order = np.random.default_rng(seed).permutation(len(data))
    return data[order[:n]], data[order[n:2 * n]]


def synthetic_pair(name: str, **kwargs):
    def sample(n: int, seed: int):
        from hiref.datasets import synthetic

        return getattr(synthetic, name)(n, seed, **kwargs)

    return sample


def uniform_squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two partially overlapping uniform squares: X ~ U[0,1]^2, Y ~ U[0.3,1.1]^2 (the
    clouds of ``bench_targets.py``'s ``uniform_4096``, at any n)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 2)).astype(np.float32)
    y = (0.3 + 0.8 * rng.uniform(size=(n, 2))).astype(np.float32)
    return x, y


PAIRS = {
    "uniform_squares": uniform_squares,
    "halfmoon_scurve": synthetic_pair("halfmoon_scurve"),
    "checkerboard": synthetic_pair("checkerboard"),
    "gaussian_mixtures_32d": synthetic_pair("gaussian_mixtures", dim=32),
    "gaussian_mixtures_128d": synthetic_pair("gaussian_mixtures", dim=128),
    "shared_clusters_30d": synthetic_pair("shared_clusters", dim=30),
    "digits_64d": digits_halves,
}


def run_one(pair: str, n: int, cost: str, exact_max: int, bspot_plans: list[int], seed: int,
            splits: list[str], settings: list[str], repeats: int) -> list[dict]:
    """One record per ``HiRefConfig.split`` of ``splits`` and entry of ``settings``
    (:func:`parse_setting`), sharing BSP-OT's and exact runs; HiRef's warm time is the
    fastest of ``repeats`` calls."""
    import jax

    import hiref
    x, y = PAIRS[pair](n, seed)
    p = 2 if cost == "sqeuclidean" else 1
    shared = {"pair": pair, "n": n, "d": x.shape[1], "cost": cost, "seed": seed,
              "device": str(jax.devices()[0]), "load_before": os.getloadavg()}
    records = []
    for split in splits:
        for setting in settings:
            config = hiref.HiRefConfig(split=split, **parse_setting(setting))
            record = dict(shared, setting=setting)
            start = time.perf_counter()
            first = hiref.solve(x, y, cost=cost, seed=seed, config=config)
            record["hiref_cold_seconds"] = time.perf_counter() - start
            record["hiref_seconds"] = np.inf
            for _ in range(repeats):
                start = time.perf_counter()
                out = hiref.solve(x, y, cost=cost, seed=seed, config=config)
                record["hiref_seconds"] = min(record["hiref_seconds"],
                                              time.perf_counter() - start)
                assert np.array_equal(first.perm, out.perm), "not deterministic"
            records.append(_hiref_record(record, out, p))
    baselines = _baselines(x, y, cost, p, exact_max, bspot_plans, seed, repeats)
    for record in records:
        record.update(baselines)
        best = min([record["hiref_cost"], record.get("exact_cost", np.inf)]
                   + [record[f"bspot{plans}_cost"] for plans in bspot_plans])
        record["hiref_to_best"] = record["hiref_cost"] / best
        if "exact_cost" in record:
            record["hiref_ratio"] = record["hiref_cost"] / record["exact_cost"]
        record["load_after"] = os.getloadavg()
    return records


def parse_setting(setting: str) -> dict:
    """``HiRefConfig`` keyword arguments from ``"name=value,name=value"``
    (``max_leaf=32,refine_tol=3e-5``: numbers as numbers, ``none`` as None, other values as
    strings); ``"default"``: none."""
    if setting == "default":
        return {}
    pairs = [item.split("=", 1) for item in setting.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{setting!r} is not name=value[,name=value...]")
    return {name: _scalar(value) for name, value in pairs}


def _scalar(value: str):
    """``value`` as an int, else a float, else None for ``none``, else the string."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return None if value.lower() == "none" else value


def _hiref_record(record: dict, out, p: int) -> dict:
    """``record`` with the cost, settings and levels of HiRef's alignment ``out``."""
    record.update(hiref_cost=out.cost_p2 if p == 2 else out.cost_p1,
                  hiref_level_seconds=out.level_seconds, schedule=out.schedule,
                  config=out.config.to_dict(), split=out.extra["split"])
    # The process's peak so far: the largest of the settings run up to this one.
    record["hiref_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


def _baselines(x, y, cost, p, exact_max, bspot_plans, seed, repeats) -> dict:
    """BSP-OT's costs (the mean of ``repeats`` runs, each run's in ``bspot{plans}_costs``)
    and seconds (the fastest run) for each number of plans, and the exact cost up to
    ``exact_max`` points."""
    from hiref.methods.matching import run_bspot

    n, record = len(x), {}
    for plans in bspot_plans:
        results = [run_bspot(x, y, {"n_plans": plans, "cost": cost}, seed)
                   for _ in range(repeats)]
        costs = [r.cost_p2 if p == 2 else r.cost_p1 for r in results]
        record[f"bspot{plans}_seconds"] = min(r.seconds for r in results)
        record[f"bspot{plans}_costs"] = costs
        record[f"bspot{plans}_cost"] = float(np.mean(costs))

    if n <= exact_max:
        from scipy.optimize import linear_sum_assignment

        matrix = ((x[:, None, :].astype(np.float64) - y[None]) ** 2).sum(-1)
        matrix = matrix if p == 2 else np.sqrt(matrix)
        start = time.perf_counter()
        rows, cols = linear_sum_assignment(matrix)
        record["exact_seconds"] = time.perf_counter() - start
        record["exact_cost"] = float(matrix[rows, cols].mean())
        for plans in bspot_plans:
            record[f"bspot{plans}_ratio"] = record[f"bspot{plans}_cost"] / record["exact_cost"]
    return record


def machine() -> dict:
    import jax
    import ot

    import hiref

    return {
        "platform": platform.platform(), "processor": platform.processor(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
        "pot": ot.__version__, "hiref": hiref.__version__,
        "devices": [str(d) for d in jax.devices()],
    }


def table(records: list[dict], plans: list[int]) -> str:
    head = ["pair", "n", "d", "split", "settings", "HiRef s (cold)", "HiRef s (warm)", "peak RSS MB", "HiRef / exact",
            "HiRef / best"]
    for p in plans:
        head += [f"BSP-OT{p} s", f"BSP-OT{p} / exact", f"HiRef / BSP-OT{p}"]
    head += ["load (1 min, before / after)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def fmt(value, spec):
        return "—" if value is None else format(value, spec)

    for r in records:
        row = [r["pair"], str(r["n"]), str(r["d"]), r["split"], r["setting"],
               fmt(r["hiref_cold_seconds"], ".2f"),
               fmt(r["hiref_seconds"], ".2f"), fmt(r["hiref_peak_rss_mb"], ".0f"),
               fmt(r.get("hiref_ratio"), ".4f"), fmt(r.get("hiref_to_best"), ".5f")]
        for p in plans:
            bspot = r.get(f"bspot{p}_cost")
            row += [fmt(r.get(f"bspot{p}_seconds"), ".3f"), fmt(r.get(f"bspot{p}_ratio"), ".4f"),
                    fmt(None if bspot is None else r["hiref_cost"] / bspot, ".5f")]
        row.append(f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def tradeoff_table(records: list[dict], plans: list[int]) -> str:
    """For each (pair, n): every HiRef setting and BSP-OT plan count ordered by time, its cost
    over the lowest of them, and whether it is on the trade-off's front (no other point both
    at most as slow and cheaper)."""
    lines = ["| pair | n | method | setting | s (warm) | cost / lowest | front |",
             "|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["pair"], r["n"]), []).append(r)
    for (pair, n), runs in groups.items():
        points = [("HiRef", f"{r['split']}, {r['setting']}",
                   r["hiref_seconds"], r["hiref_cost"]) for r in runs]
        points += [("BSP-OT", f"{k} plans", runs[0][f"bspot{k}_seconds"], runs[0][f"bspot{k}_cost"])
                   for k in plans]
        if "exact_cost" in runs[0]:
            points.append(("exact", "SciPy", runs[0]["exact_seconds"], runs[0]["exact_cost"]))
        lowest = min(point[3] for point in points)
        for method, setting, seconds, cost in sorted(points, key=lambda point: point[2]):
            front = not any(s <= seconds and c < cost for *_, s, c in points)
            lines.append(f"| {pair} | {n} | {method} | {setting} | {seconds:.3f} | "
                         f"{cost / lowest:.6f} | {'yes' if front else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["halfmoon_scurve", "gaussian_mixtures_32d"],
                        choices=sorted(PAIRS))
    parser.add_argument("--log2n", nargs="+", type=int, default=[10, 12, 14, 16])
    parser.add_argument("--sizes", nargs="+", type=int,
                        help="explicit sizes n, instead of --log2n (digits_64d: n <= 898)")
    parser.add_argument("--cost", default="sqeuclidean", choices=["sqeuclidean", "euclidean"])
    parser.add_argument("--exact-max", type=int, default=4096,
                        help="largest n solved exactly (SciPy) for the cost ratios")
    parser.add_argument("--bspot-plans", nargs="*", type=int, default=[16, 64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", nargs="+", default=["auto"], choices=["auto", "lowrank",
                        "halfspace"], help="HiRefConfig.split values to run (each its record)")
    parser.add_argument("--settings", nargs="+", default=["default"],
                        help="HiRefConfig settings to run, each its record: name=value[,...] "
                             "(e.g. max_leaf=32,refine_tol=3e-5) or default")
    parser.add_argument("--repeats", type=int, default=1,
                        help="warm HiRef calls and BSP-OT runs per setting (fastest time; "
                             "BSP-OT's mean cost)")
    parser.add_argument("--tradeoff", action="store_true",
                        help="also print every setting ordered by time with the front marked")
    parser.add_argument("--out", type=Path, default=Path("bench/results/hiref.json"))
    parser.add_argument("--one", nargs=2, metavar=("PAIR", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    import hiref

    for setting in args.settings:  # refused here, before any run, naming the setting
        try:
            hiref.HiRefConfig(**parse_setting(setting))
        except (TypeError, ValueError) as error:
            parser.error(f"--settings: {error}")

    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.cost, args.exact_max,
                                 args.bspot_plans, args.seed, args.splits, args.settings,
                                 args.repeats)))
        return

    records = []
    for pair in args.pairs:
        for n in args.sizes or [2**e for e in args.log2n]:
            command = [sys.executable, __file__, "--one", pair, str(n), "--cost", args.cost,
                       "--exact-max", str(args.exact_max), "--seed", str(args.seed),
                       "--bspot-plans", *map(str, args.bspot_plans), "--splits", *args.splits,
                       "--repeats", str(args.repeats), "--settings", *args.settings]
            print(f"running {pair} n = {n} ...", file=sys.stderr, flush=True)
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"benchmark run {pair} n={n} failed:\n{done.stderr[-3000:]}")
            runs = json.loads(done.stdout.strip().splitlines()[-1])
            records += runs
            print("\n".join(table(runs, args.bspot_plans).splitlines()[2:]), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine(), "cost": args.cost, "runs": records},
                              indent=2))
    os.replace(tmp, args.out)
    print(table(records, args.bspot_plans))
    if args.tradeoff:
        print()
        print(tradeoff_table(records, args.bspot_plans))


if __name__ == "__main__":
    main()
