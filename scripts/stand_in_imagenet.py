"""Snakemake script: the stand-in ImageNet embeddings (docs/stand-ins.md), as embed_images
writes them for ILSVRC2012 train.

params: rows, classes, dim, seed. output: imagenet.npz under data.stand_in_data.dir, marked.
"""

from contextlib import redirect_stderr, redirect_stdout

from hiref.datasets.stand_ins.imagenet import write_embeddings


def main(sm) -> None:
    marker = write_embeddings(sm.output[0], rows=sm.params.rows, classes=sm.params.classes,
                              dim=sm.params.dim, seed=sm.params.seed)
    print(f"wrote {sm.output[0]}: {marker}")


with open(snakemake.log[0], "w", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    main(snakemake)  # noqa: F821
