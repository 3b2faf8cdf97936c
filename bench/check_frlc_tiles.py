"""Small-size check of FRLC's dense tiled cost: its products and the tiled <C, P> of a
factored plan against the dense matrix (float32) and float64.

    python bench/check_frlc_tiles.py --n 2048 --out bench/results/frlc_tiles.json

The tiles are made small (64 rows) so that the products run over many tiles and a padded one
would show; the pair is the synthetic tissue pair of ``bench_frlc_merfish.py``. Errors are the
largest absolute difference divided by the largest entry of the reference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from bench_frlc_merfish import tissue_pair
from scipy.spatial.distance import cdist

from hiref import costs, frlc

#: Rows per tile in this check.
TILE_ROWS = 64


def relative_error(ours, reference) -> float:
    return float(np.abs(np.asarray(ours, np.float64) - reference).max() / np.abs(reference).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--rank", type=int, default=500)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    frlc.BLOCK_ENTRIES = TILE_ROWS * args.n
    x, y = tissue_pair(args.n, seed=0)
    centre = 0.5 * (x.mean(0) + y.mean(0))
    x, y = x - centre, y - centre
    rng = np.random.default_rng(0)
    r_mat, q_mat = (rng.random((args.n, args.rank)).astype(np.float32) for _ in range(2))
    every = jnp.ones(args.n, bool)
    tiled = frlc.TiledCost(jnp.asarray(x), jnp.asarray(y), every, every, 1.0, "euclidean")
    matrix = frlc.DenseCost(costs.pairwise(x, y, "euclidean"), 1.0)
    exact = cdist(x.astype(np.float64), y.astype(np.float64))
    out = {"n": args.n, "rank": args.rank, "tile_rows": TILE_ROWS}
    for name, ours, dense, reference in (
            ("C @ R", tiled.times(r_mat), matrix.times(r_mat), exact @ r_mat),
            ("C^T @ Q", tiled.times_transposed(q_mat), matrix.times_transposed(q_mat),
             exact.T @ q_mat)):
        out[name] = {"tiled_vs_dense_matrix": relative_error(ours, np.asarray(dense, np.float64)),
                     "tiled_vs_float64": relative_error(ours, reference)}
    config = frlc.FRLCConfig(rank=min(100, args.n), max_iter=5, min_iter=5,
                             cost_form="dense_tiled")
    plan = frlc.solve(x, y, "euclidean", config, seed=0)
    left, right, g = (np.asarray(v, np.float64) for v in plan.diagonal_form())
    dense_cost = float((exact * (left @ (right / g).T)).sum())
    tiled_cost = frlc.factored_plan_cost(x, y, *plan.diagonal_form(), "euclidean")
    out["<C, P>"] = {"tiled": tiled_cost, "dense_float64": dense_cost,
                     "relative_error": abs(tiled_cost - dense_cost) / dense_cost,
                     "solver_objective": float(np.asarray(plan.objective)[4])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
