"""Snakemake script: the stand-in COCO val2017.zip (docs/stand-ins.md).

params: images, seed. output: val2017.zip under data.stand_in_data.dir, marked.
"""

from hiref.datasets.stand_ins.coco import write_zip
from hiref.provenance import job_log


def main(sm) -> None:
    marker = write_zip(sm.output[0], n_images=sm.params.images, seed=sm.params.seed)
    print(f"wrote {sm.output[0]}: {marker}")


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
