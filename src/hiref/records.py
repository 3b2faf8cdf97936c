"""One workflow run end to end: load the prepared pair, run a method, write its record."""

from __future__ import annotations

import time

import numpy as np

from hiref.methods import METHODS, MethodResult, parse_label, run

#: Keys of the ``.npz`` beside each record, always all present (empty arrays when they do not
#: apply): ``perm`` the bijection ``x_i -> y_perm[i]``; ``map`` an argmax map of a plan (FRLC);
#: the entropic mini-batch's ``batch_perm`` (the shared permutation), ``batch_size``, ``f``,
#: ``g`` (each batch's potentials in batch order: position ``t`` belongs to
#: ``x[batch_perm[t]]`` / ``y[batch_perm[t]]``) and ``batch_epsilon`` (one per batch), so that
#: batch ``k``'s plan is ``exp((f_i + g_j - C_ij) / batch_epsilon[k])``; ``cost`` the cost name.
NPZ_KEYS = ("perm", "map", "batch_perm", "batch_size", "f", "g", "batch_epsilon", "cost")


def solve_and_record(*, data, record, matching, experiment, dataset, method, params, n, seed):
    """One workflow run: loads the prepared pair, runs ``method``, writes the JSON record
    (fields in README, "Results") and the ``.npz`` of :data:`NPZ_KEYS`, atomically.

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
        "seconds": result.seconds, "compile_seconds": result.compile_seconds,
        "wall_seconds": time.perf_counter() - t0, "estimator": METHODS[name].estimator,
        "peak_rss_mb": provenance.peak_rss_mb(), "device": provenance.device(uses_jax),
        "params": result.params, "extra": result.extra,
        "versions": provenance.versions(), "git_commit": provenance.git_commit(),
    }
    with provenance.atomic_path(matching) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **run_arrays(result, params["cost"]))
    provenance.write_json(record, out)


def run_arrays(result: MethodResult, cost: str) -> dict[str, np.ndarray]:
    """The arrays of a run's ``.npz``: every key of :data:`NPZ_KEYS`."""
    unknown = set(result.arrays) - set(NPZ_KEYS)
    if unknown:
        raise ValueError(f"method arrays {sorted(unknown)} are not .npz keys {NPZ_KEYS}")
    no_index, no_value = np.zeros(0, np.int64), np.zeros(0, np.float32)
    arrays = {"perm": no_index, "map": no_index, "batch_perm": no_index,
              "batch_size": no_index, "f": no_value, "g": no_value,
              "batch_epsilon": np.zeros(0, np.float64)}
    if result.perm is not None:
        arrays["perm"] = np.asarray(result.perm, np.int64)
    return {**arrays, **result.arrays, "cost": np.asarray(cost)}
