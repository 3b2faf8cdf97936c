"""Issue 22's targets that the default solver did not meet on 2026-12-04, measured
(docs/performance.md, "Targets open on 2026-12-04, after the potentials"). Run on demand,
not in CI:

    .venv/bin/python bench/bench_open_targets.py --out bench/results/open_targets.json

Parts (``--parts``; squared Euclidean cost, HiRef's seed equal to the data's):
  seeds: n = 4096 in 2-D, seeds 0-3, HiRef / the exact assignment with the default
    settings, without the last cycle pass (``cycle_rounds=0``), with 4096 rounds of it, and
    without it at ``refine_tol=0`` with 10 and 12 sweeps.
  rounding: the share of points each low-rank level of a default solve moves by rounding, and
    the cost, with ``max_rank`` 16 (the default), 8 and 4 (× exact where n <= 4096).
  groups: high dimension: after the default solve, three refinement sweeps with groups of 512,
    1024 and 2048 pairs (principal-axis halvings as :mod:`hiref.refine`, each group solved
    exactly as the host leaves are), × exact and seconds per sweep.
  cuts: where the 2-D excess at n = 4096 comes from (half-moon and uniform squares, seeds
    0-3): × exact after the first cut alone (two exact halves, no refinement) and after the
    first cuts down to leaves of 1024, 512, ..., 64 (without and with refinement), and the
    default solve with each of the ``TOP_CANDIDATES`` best-scored first cuts forced.
  cycles: where BSP-OT-64's matching beats HiRef's at n = 2^16 (uniform squares and
    half-moon, seed 0): the cycles in which the two bijections differ, each cycle's cost
    difference, and the share of the gap held by cycles up to a leaf (64 pairs) and longer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from unittest import mock

import numpy as np
from bench_hiref import PAIRS

import hiref
from hiref import costs, halfspace, leaves, refine

SEED_PAIRS = ("halfmoon_scurve", "uniform_squares", "checkerboard")
ROUNDING_CASES = (("gaussian_mixtures_32d", 4096), ("gaussian_mixtures_32d", 16384),
                  ("gaussian_mixtures_128d", 16384), ("shared_clusters_30d", 4096))
GROUP_CASES = (("shared_clusters_30d", 4096), ("digits_64d", 898))


def exact_mean(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The optimal mean squared distance (SciPy's assignment of the leaves' cost form, with
    their potentials: exact, and minutes faster at 4096 than on the distances), and the
    (n, n) float64 distances."""
    cost = costs.difference_costs(x, y, "sqeuclidean")
    cols = leaves.assign(costs.assignment_costs(x[None], y[None], "sqeuclidean")[0])[0]
    return float(cost[np.arange(len(x)), cols].mean()), cost


def timed(x, y, config, seed):
    start = time.perf_counter()
    out = hiref.solve(x, y, config=config, seed=seed)
    return out, time.perf_counter() - start


def seeds_part() -> list[dict]:
    sweeps_only = hiref.HiRefConfig(cycle_rounds=0)
    variants = {"default": hiref.HiRefConfig(),
                "no cycle pass": sweeps_only,
                "4096 cycle rounds": hiref.HiRefConfig(cycle_rounds=4096),
                "refine_tol 0, 10 sweeps": sweeps_only.replace(refine_tol=0.0, refine_sweeps=10),
                "refine_tol 0, 12 sweeps": sweeps_only.replace(refine_tol=0.0, refine_sweeps=12)}
    records = []
    for seed in range(4):
        for pair in SEED_PAIRS:
            x, y = (np.asarray(a, np.float64) for a in PAIRS[pair](4096, seed))
            best, cost = exact_mean(x, y)
            for name, config in variants.items():
                out, seconds = timed(x, y, config, seed)
                ratio = cost[np.arange(len(x)), np.asarray(out.perm)].mean() / best
                records.append({"part": "seeds", "pair": pair, "seed": seed, "variant": name,
                                "ratio_to_exact": ratio, "seconds": seconds})
                print(f"seeds {pair} seed {seed} {name}: {ratio:.5f} x exact, {seconds:.2f} s",
                      flush=True)
    return records


def rounding_part() -> list[dict]:
    records = []
    for pair, n in ROUNDING_CASES:
        x, y = (np.asarray(a, np.float64) for a in PAIRS[pair](n, 0))
        best = exact_mean(x, y)[0] if n <= 4096 else None
        for max_rank in (16, 8, 4):
            out, seconds = timed(x, y, hiref.HiRefConfig(max_rank=max_rank), 0)
            moved = [level["moved_share"] for level in out.extra["levels"]
                     if "moved_share" in level]
            records.append({"part": "rounding", "pair": pair, "n": n, "max_rank": max_rank,
                            "schedule": out.schedule, "moved_share": moved,
                            "cost_p2": out.cost_p2, "seconds": seconds,
                            "ratio_to_exact": out.cost_p2 / best if best else None})
            print(f"rounding {pair} {n} max_rank {max_rank}: {out.schedule}, moved "
                  f"{[round(100 * m, 1) for m in moved]} %, cost {out.cost_p2:.6g}"
                  + (f" ({out.cost_p2 / best:.5f} x exact)" if best else ""), flush=True)
    return records


def group_sweep(x, y, perm, group, rng):
    """One refinement sweep with groups of at most ``group`` pairs: the new perm."""
    n = len(x)
    order_x, order_y = np.arange(n), perm.copy()
    points = refine.pair_points(lambda side, rows: (x, y)[side][rows], order_x, order_y, rng)
    order, sizes = refine.halve(points, refine.halvings_for(n, group), rng)
    order_x, order_y = order_x[order], order_y[order]
    for start, size in zip(*leaves.segments(sizes)):
        bx, by = order_x[start:start + size], order_y[start:start + size]
        block = costs.assignment_costs(x[bx][None], y[by][None], "sqeuclidean")[0]
        order_y[start:start + size] = by[leaves.assign(block)[0]]
    out = np.empty(n, np.int64)
    out[order_x] = order_y
    return out


def groups_part() -> list[dict]:
    records = []
    for pair, n in GROUP_CASES:
        x, y = (np.asarray(a, np.float64) for a in PAIRS[pair](n, 0))
        best, cost = exact_mean(x, y)
        hiref.solve(x, y)  # compile
        out, seconds = timed(x, y, hiref.HiRefConfig(), 0)
        base = np.asarray(out.perm)
        ratio = cost[np.arange(n), base].mean() / best
        records.append({"part": "groups", "pair": pair, "n": n, "group": None, "sweep": 0,
                        "ratio_to_exact": ratio, "seconds": seconds})
        print(f"groups {pair} {n} default: {ratio:.5f} x exact, {seconds:.2f} s", flush=True)
        for group in (512, 1024, 2048):
            perm, rng = base, np.random.default_rng(0)
            for sweep in range(1, 4):
                start = time.perf_counter()
                perm = group_sweep(x, y, perm, group, rng)
                seconds = time.perf_counter() - start
                ratio = cost[np.arange(n), perm].mean() / best
                records.append({"part": "groups", "pair": pair, "n": n, "group": group,
                                "sweep": sweep, "ratio_to_exact": ratio, "seconds": seconds})
                print(f"groups {pair} {n} groups of {group}, sweep {sweep}: {ratio:.5f} x "
                      f"exact, {seconds:.2f} s", flush=True)
    return records


def forced_first_cut(rank: int):
    """A stand-in for :func:`hiref.halfspace._agreeing` that makes the ``rank``-th best-scored
    first cut, whatever the probe says."""

    def choose(scores, *_):
        return int(np.argsort(-scores.ravel(), kind="stable")[rank])

    return choose


def solve_ratio(x, y, seed, config, cost, best) -> float:
    """HiRef's mean cost under ``config`` / the exact one (``cost``: the (n, n) distances)."""
    perm = np.asarray(hiref.solve(x, y, config=config, seed=seed).perm)
    return cost[np.arange(len(x)), perm].mean() / best


def cuts_part() -> list[dict]:
    records = []
    for seed in range(4):
        for pair in ("halfmoon_scurve", "uniform_squares"):
            x, y = (np.asarray(a, np.float64) for a in PAIRS[pair](4096, seed))
            best, cost = exact_mean(x, y)
            # The levels of a solve do not depend on its leaf size, so a larger max_leaf
            # stops the same cuts earlier and solves what is below them exactly.
            for leaf in (2048, 1024, 512, 256, 128, 64):
                for sweeps in (0, hiref.HiRefConfig().refine_sweeps):
                    value = solve_ratio(x, y, seed, hiref.HiRefConfig(max_leaf=leaf,
                                                                      refine_sweeps=sweeps),
                                        cost, best)
                    records.append({"part": "cuts", "pair": pair, "seed": seed, "leaf": leaf,
                                    "refine_sweeps": sweeps, "ratio_to_exact": value})
                    print(f"cuts {pair} seed {seed} leaves {leaf}, {sweeps} sweeps: "
                          f"{value:.5f} x exact", flush=True)
            forced = []
            for rank in range(halfspace.TOP_CANDIDATES):
                with mock.patch.object(halfspace, "_agreeing", forced_first_cut(rank)):
                    forced.append(solve_ratio(x, y, seed, hiref.HiRefConfig(), cost, best))
            records.append({"part": "cuts", "pair": pair, "seed": seed,
                            "forced_first_cut": forced})
            print(f"cuts {pair} seed {seed} forced first cuts: {min(forced):.5f} to "
                  f"{max(forced):.5f} x exact (best-scored {forced[0]:.5f})", flush=True)
    return records


def differing_cycles(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """The cycles (each an array of rows of x) in which bijections ``a`` and ``b`` (n,)
    differ: following ``x_i -> y_b[i]``, then the x matched to that y by ``a``, returns to
    ``x_i``; rows that both match alike are left out."""
    partner_in_a = np.empty_like(a)
    partner_in_a[a] = np.arange(len(a))
    step, seen, cycles = partner_in_a[b], np.zeros(len(a), bool), []
    for start in np.flatnonzero(step != np.arange(len(a))):
        cycle, row = [], start
        while not seen[row]:
            seen[row] = True
            cycle.append(row)
            row = step[row]
        if cycle:
            cycles.append(np.array(cycle))
    return cycles


def cycles_part() -> list[dict]:
    import ot

    records = []
    for pair in ("uniform_squares", "halfmoon_scurve"):
        x, y = (np.asarray(a, np.float64) for a in PAIRS[pair](1 << 16, 0))
        ours = np.asarray(hiref.solve(x, y, seed=0).perm)
        bsp = np.asarray(ot.compute_bspot_bijection(x, y, n_plans=64, seed=0)[1])
        ours_cost = ((x - y[ours]) ** 2).sum(1)
        bsp_cost = ((x - y[bsp]) ** 2).sum(1)
        gains = [(len(c), float(ours_cost[c].sum() - bsp_cost[c].sum()))
                 for c in differing_cycles(ours, bsp)]
        lengths, gain = (np.array(v) for v in zip(*gains))
        total = ours_cost.sum()
        record = {"part": "cycles", "pair": pair, "n": 1 << 16,
                  "hiref_over_bspot64": float(total / bsp_cost.sum()), "cycles": len(gains),
                  "longest": int(lengths.max()),
                  "bspot_better_cycles": int((gain > 0).sum()),
                  "gap_in_cycles_up_to_64": float(gain[lengths <= 64].sum() / total),
                  "gap_in_longer_cycles": float(gain[lengths > 64].sum() / total),
                  "longer_cycles_bspot_better": int(((lengths > 64) & (gain > 0)).sum())}
        records.append(record)
        print(f"cycles {pair}: {record}", flush=True)
    return records


PARTS = {"seeds": seeds_part, "rounding": rounding_part, "groups": groups_part,
         "cuts": cuts_part, "cycles": cycles_part}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--out", type=Path, default=Path("bench/results/open_targets.json"))
    args = parser.parse_args()
    records = [record for part in args.parts for record in PARTS[part]()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"records": records}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
