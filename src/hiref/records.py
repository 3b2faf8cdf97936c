"""One workflow run end to end: load the prepared pair, run a method, write its record."""

from __future__ import annotations

import time

import numpy as np

from hiref.methods import METHODS, parse_label, run


def solve_and_record(*, data, record, matching, experiment, dataset, method, params, n, seed):
    """One workflow run: loads the prepared pair, runs ``method``, writes the JSON record
    (fields in README, "Results") and the matching (``perm``, empty for plans), atomically.

    A prepared pair larger than ``n`` is subsampled to ``n`` points per side (seeded).
    """
    from hiref import provenance
    from hiref.datasets import load_pair

    t0 = time.perf_counter()
    x, y = load_pair(data)
    if min(len(x), len(y)) < n:
        raise ValueError(f"{data} holds {len(x)} x {len(y)} points, fewer than n = {n}")
    rng = np.random.default_rng(seed)
    if len(x) > n:
        x = x[np.sort(rng.choice(len(x), n, replace=False))]
    if len(y) > n:
        y = y[np.sort(rng.choice(len(y), n, replace=False))]
    result = run(method, x, y, params, seed)
    name, _ = parse_label(method)
    uses_jax = METHODS[name].uses_jax and result.status == "ok"
    out = {
        "experiment": experiment, "dataset": dataset, "method": method, "n": n,
        "d": int(x.shape[1]), "seed": seed, "cost": params["cost"],
        "status": result.status, "reason": result.reason,
        "cost_p1": result.cost_p1, "cost_p2": result.cost_p2,
        "seconds": result.seconds, "wall_seconds": time.perf_counter() - t0,
        "peak_rss_mb": provenance.peak_rss_mb(), "device": provenance.device(uses_jax),
        "params": result.params, "extra": result.extra,
        "versions": provenance.versions(), "git_commit": provenance.git_commit(),
    }
    perm = np.zeros(0, np.int64) if result.perm is None else result.perm
    with provenance.atomic_path(matching) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, perm=perm)
    provenance.write_json(record, out)
