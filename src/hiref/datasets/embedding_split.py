"""The paper's seeded random 50:50 split of image embeddings into a prepared pair, file to
file in blocks: ImageNet's 1,281,167 x 2048 embeddings (10.5 GB) are never in memory, and
neither are the two 5.2 GB halves (rule ``split_embeddings``).
"""

from __future__ import annotations

import json
import os

import numpy as np

from hiref.datasets.npz_stream import NpyRows, NpzWriter
from hiref.datasets.stand_ins.markers import judge, meta_marker
from hiref.provenance import atomic_path

#: Rows copied per block: 16384 x 2048 float32 is 128 MiB.
BLOCK_ROWS = 16384


def split_rows(total: int, n_per_side: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` and of ``y``: the first ``n_per_side`` and the next ``n_per_side`` of a
    seeded random permutation of ``total`` rows (``None``: ``total // 2``). The ``2 *
    n_per_side`` rows kept are a random subset (ImageNet: 1,281,167 -> 640,500 + 640,500
    leaves 167 random images out), which the authors got by dropping the last rows of a
    shuffled order."""
    n = total // 2 if n_per_side is None else int(n_per_side)
    if n < 1 or 2 * n > total:
        raise ValueError(
            f"the split needs 2 x {n} = {2 * n} embeddings, only {total} are available"
        )
    order = np.random.default_rng(seed).permutation(total)
    return order[:n], order[n : 2 * n]


def split_file(source: str | os.PathLike, destination: str | os.PathLike, *,
               n_per_side: int | None, seed: int, stand_in: bool = False,
               block_rows: int = BLOCK_ROWS, progress=print) -> dict:
    """Splits the embeddings ``.npz`` of ``embed_images`` (``embeddings``, ``ids``, ``meta``)
    into the prepared pair at ``destination`` (``x``, ``y`` float32, ``x_ids``, ``y_ids``,
    ``meta``: the embeddings' meta plus ``split``), written atomically; returns the meta.

    Stand-in embeddings (``meta['stand_in']``) are split only with ``stand_in=True``, and
    then only stand-ins are. Memory: one block of rows, the ids and the permutation.
    """
    with np.load(source) as data:
        meta = json.loads(str(data["meta"]))
        ids = data["ids"]
    judge(source, meta_marker(meta), stand_in=stand_in, what="image embeddings")
    with NpyRows(source, "embeddings") as embeddings:
        if embeddings.shape[0] != len(ids):
            raise ValueError(f"{source}: {embeddings.shape[0]} embeddings but {len(ids)} ids")
        x_rows, y_rows = split_rows(len(ids), n_per_side, seed)
        meta["split"] = {"n_per_side": len(x_rows), "of": len(ids), "seed": seed}
        with atomic_path(destination) as tmp, NpzWriter(tmp) as out:
            for name, rows in (("x", x_rows), ("y", y_rows)):
                with out.rows(name, (len(rows), embeddings.shape[1]), np.float32) as write:
                    for start in range(0, len(rows), block_rows):
                        write(embeddings.take(rows[start:start + block_rows]))
                progress(f"{name}: {len(rows)} rows written")
            out.add("x_ids", ids[x_rows])
            out.add("y_ids", ids[y_rows])
            out.add("meta", np.asarray(json.dumps(meta)))
    return meta
