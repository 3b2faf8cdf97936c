"""Snakemake script: the paper's seeded random 50:50 split of image embeddings.

input: the embeddings .npz of embed_images. params: n_per_side (null: half of all), seed.
output: the prepared dataset .npz (``x``, ``y`` float32; ``x_ids``, ``y_ids``; ``meta``).
"""

import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

from hiref.datasets import save_pair
from hiref.datasets.images import split_embeddings


def main(sm) -> None:
    with np.load(sm.input[0]) as data:
        meta = json.loads(str(data["meta"]))
        parts = split_embeddings(
            data["embeddings"], data["ids"], n_per_side=sm.params.n_per_side, seed=sm.params.seed
        )
    meta["split"] = {"n_per_side": len(parts["x"]), "of": meta["n_images"], "seed": sm.params.seed}
    save_pair(sm.output[0], **parts, meta=json.dumps(meta))
    print(
        f"split {meta['n_images']} embeddings into {len(parts['x'])} + {len(parts['y'])} (seed {sm.params.seed})"
    )


with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    main(snakemake)  # noqa: F821
