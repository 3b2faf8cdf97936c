"""Snakemake script: the stand-in COCO val2017.zip (docs/stand-ins.md).

params: images, seed. output: val2017.zip under data.stand_in_data.dir, marked.
"""

from contextlib import redirect_stderr, redirect_stdout

from hiref.datasets.stand_ins.coco import write_zip


def main(sm) -> None:
    marker = write_zip(sm.output[0], n_images=sm.params.images, seed=sm.params.seed)
    print(f"wrote {sm.output[0]}: {marker}")


with open(snakemake.log[0], "w", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    main(snakemake)  # noqa: F821
