"""The warm-start study: split by source photo, palette pairs, and Sinkhorn from every
initializer on the same held-out pairs.

Sinkhorn is :func:`hiref.studies.warmstart.sinkhorn.solve` (log domain, ott-jax's update
order, one of two stopping rules) on the Euclidean cost between the palettes' CIELAB
colours with an absolute epsilon; the starts are ott-jax initializers. Each initializer and
the solve are compiled once before any timing; seconds are measured per pair after
``block_until_ready``.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from ott.geometry import costs, pointcloud
from ott.problems.linear import linear_problem

from hiref.studies.warmstart import potential_model, sinkhorn


def palette_problem(x, a, y, b, epsilon: float) -> linear_problem.LinearProblem:
    """OT between palettes (n, 3), (n,) and (m, 3), (m,), Euclidean cost in CIELAB, as
    ott-jax's initializers read it."""
    geom = pointcloud.PointCloud(x, y, cost_fn=costs.Euclidean(), epsilon=epsilon)
    return linear_problem.LinearProblem(geom, a, b)


def split_groups(groups: np.ndarray, test_fraction: float, seed: int):
    """Source photos (groups) split at random (seeded) into train and test; returns the
    image indices of each side. At least one photo goes to each side."""
    if not 0 < test_fraction < 1:
        raise ValueError(
            f"warmstart.split.test_fraction must lie in (0, 1), got {test_fraction}"
        )
    names = np.unique(groups)
    if len(names) < 2:
        raise ValueError(
            f"the split by source photo needs at least 2 photos, got {len(names)}; "
            "add photos (warmstart.bundled.photos) or images (warmstart.coco.n_images)"
        )
    n_test = min(max(1, round(test_fraction * len(names))), len(names) - 1)
    test = np.random.default_rng(seed).permutation(names)[:n_test]
    is_test = np.isin(groups, test)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def ordered_pairs(indices: np.ndarray, n_pairs: int | None, seed: int, key: str) -> np.ndarray:
    """``n_pairs`` distinct ordered pairs (i, j), i != j, drawn from ``indices`` (seeded);
    ``None``: every pair. (p, 2) int64, in a seeded random order."""
    indices = np.asarray(indices)
    i, j = np.meshgrid(indices, indices, indexing="ij")
    keep = i != j
    every = np.stack([i[keep], j[keep]], 1)
    if len(every) == 0:
        raise ValueError(f"{key}: its side of the split holds fewer than 2 images")
    if n_pairs is not None and n_pairs > len(every):
        raise ValueError(
            f"{key} = {n_pairs} exceeds the {len(every)} ordered pairs of its "
            f"{len(indices)} images; lower it, or null for all pairs"
        )
    order = np.random.default_rng(seed).permutation(len(every))
    return every[order if n_pairs is None else order[:n_pairs]].astype(np.int64)


#: Per-pair numbers of :func:`evaluate` besides iterations and seconds.
COST_KEYS = ("reg_ot_cost", "primal_cost", "initial_dual", "final_dual")


def _timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def evaluate(
    colors: np.ndarray,
    masses: np.ndarray,
    pairs: np.ndarray,
    initializers: dict,
    settings: sinkhorn.SinkhornSettings,
    seed: int,
) -> tuple[list[dict], dict[str, np.ndarray], dict[str, float]]:
    """Sinkhorn from every initializer on every pair ((p, 2) indices into the palettes).

    Returns one row per (pair, initializer) (iterations, convergence, entropic and primal
    cost, semi-dual objective of the starting and final potentials, seconds), the final
    potentials ``{"f", "g"}`` of shape (p, number of initializers, k), and the compilation
    seconds of the shared Sinkhorn solve (``"sinkhorn"``) and of each initializer.
    """
    eps = settings.epsilon
    colors, masses = jnp.asarray(colors), jnp.asarray(masses)

    def solve(x, a, y, b, f0):
        return sinkhorn.solve(sinkhorn.euclidean_cost(x, y), a, b, f0, settings)

    def diagnose(x, a, y, b, f0, f, g):
        # After the timed solve: <C, P>, the entropic cost, semi-duals of start and end.
        cost = sinkhorn.euclidean_cost(x, y)

        def semi_dual(f_ott):  # ott's convention -> mass-weighted potentials
            return potential_model.semi_dual(f_ott - eps * jnp.log(a), a, b, cost, eps)

        return {
            "primal_cost": jnp.sum(sinkhorn.plan(f, g, cost, eps) * cost),
            "reg_ot_cost": sinkhorn.reg_ot_cost(f, g, a, b, cost, eps),
            "initial_dual": semi_dual(f0), "final_dual": semi_dual(f),
        }

    def args(pair):
        i, j = pair
        return colors[i], masses[i], colors[j], masses[j]

    example = args(pairs[0])
    key = jax.random.key(seed)
    start = time.perf_counter()
    solve_c = jax.jit(solve).lower(*example, example[1]).compile()
    compile_seconds = {"sinkhorn": time.perf_counter() - start}
    diagnose_c = jax.jit(diagnose)
    rows, f_out, g_out = [], [], []
    init_fns = {}
    for name, init in initializers.items():
        def init_f(x, a, y, b, rng, init=init):
            return init(palette_problem(x, a, y, b, eps), lse_mode=True, rng=rng)[0]

        start = time.perf_counter()
        init_fns[name] = jax.jit(init_f).lower(*example, key).compile()
        compile_seconds[name] = time.perf_counter() - start
    for p, pair in enumerate(pairs):
        pair_args = args(pair)
        rng = jax.random.fold_in(key, p)
        fs, gs = [], []
        for name, init_c in init_fns.items():
            f0, init_seconds = _timed(init_c, *pair_args, rng)
            out, solve_seconds = _timed(solve_c, *pair_args, f0)
            costs_ = diagnose_c(*pair_args, f0, out.f, out.g)
            rows.append({
                "pair": p, "a": int(pair[0]), "b": int(pair[1]), "initializer": name,
                "iterations": int(out.iterations), "converged": bool(out.converged),
                "stop_error": float(out.error),
                **{field: float(costs_[field]) for field in COST_KEYS},
                "init_seconds": init_seconds, "solve_seconds": solve_seconds,
                "seconds": init_seconds + solve_seconds,
            })
            fs.append(np.asarray(out.f))
            gs.append(np.asarray(out.g))
        f_out.append(fs)
        g_out.append(gs)
        if (p + 1) % 20 == 0 or p + 1 == len(pairs):
            print(f"{p + 1} / {len(pairs)} pairs solved from every start", flush=True)
    return rows, {"f": np.asarray(f_out), "g": np.asarray(g_out)}, compile_seconds
