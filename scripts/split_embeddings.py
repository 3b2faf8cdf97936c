"""Snakemake script: the paper's seeded random 50:50 split of image embeddings, in blocks.

input: the embeddings .npz (embed_images, or the ImageNet stand-in). params: n_per_side
(null: half of all), seed, stand_in. output: the prepared dataset .npz (``x``, ``y`` float32;
``x_ids``, ``y_ids``; ``meta``).
"""

from hiref.datasets.embedding_split import split_file
from hiref.provenance import job_log


def main(sm) -> None:
    meta = split_file(sm.input[0], sm.output[0], n_per_side=sm.params.n_per_side,
                      seed=sm.params.seed, stand_in=sm.params.stand_in)
    split = meta["split"]
    print(f"split {split['of']} embeddings into {split['n_per_side']} + {split['n_per_side']} "
          f"(seed {split['seed']})")


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
