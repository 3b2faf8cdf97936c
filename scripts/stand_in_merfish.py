"""Snakemake script: one stand-in Vizgen MERFISH replicate (docs/stand-ins.md).

params: role (source or target), cells, rotation_deg, seed.
output: metadata, counts (cell_metadata_S2R<r>.csv.gz, cell_by_gene_S2R<r>.csv.gz), marked.
"""

from contextlib import redirect_stderr, redirect_stdout

from hiref.datasets.stand_ins.merfish import write_replicate


def main(sm) -> None:
    marker = write_replicate(sm.output.metadata, sm.output.counts,
                             replicate=int(sm.wildcards.replicate), role=sm.params.role,
                             n_cells=sm.params.cells, rotation_deg=sm.params.rotation_deg,
                             seed=sm.params.seed)
    print(f"wrote {sm.output.metadata} and {sm.output.counts}: {marker}")


with open(snakemake.log[0], "w", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    main(snakemake)  # noqa: F821
