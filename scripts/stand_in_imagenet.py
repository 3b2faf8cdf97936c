"""Snakemake script: the stand-in ImageNet embeddings (docs/stand-ins.md), as embed_images
writes them for ILSVRC2012 train.

params: rows, classes, dim, seed. output: imagenet.npz under data.stand_in_data.dir, marked.
"""

from hiref.datasets.stand_ins.imagenet import write_embeddings
from hiref.provenance import job_log


def main(sm) -> None:
    marker = write_embeddings(sm.output[0], rows=sm.params.rows, classes=sm.params.classes,
                              dim=sm.params.dim, seed=sm.params.seed)
    print(f"wrote {sm.output[0]}: {marker}")


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
