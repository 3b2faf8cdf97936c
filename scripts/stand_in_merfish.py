"""Snakemake script: one stand-in Vizgen MERFISH replicate (docs/stand-ins.md).

params: role (source or target), cells, rotation_deg, seed.
output: metadata, counts (cell_metadata_S2R<r>.csv.gz, cell_by_gene_S2R<r>.csv.gz), marked.
"""

from hiref.datasets.stand_ins.merfish import write_replicate
from hiref.provenance import job_log


def main(sm) -> None:
    marker = write_replicate(sm.output.metadata, sm.output.counts,
                             replicate=int(sm.wildcards.replicate), role=sm.params.role,
                             n_cells=sm.params.cells, rotation_deg=sm.params.rotation_deg,
                             seed=sm.params.seed)
    print(f"wrote {sm.output.metadata} and {sm.output.counts}: {marker}")


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
