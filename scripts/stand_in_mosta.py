"""Snakemake script: one stand-in MOSTA stage file (docs/stand-ins.md).

params: stage_index, cells, tissues, genes, gene_dropout, median_umi, seed.
output: <stage>_E1S1.MOSTA.h5ad under data.stand_in_data.dir, marked as a stand-in.
"""

from hiref.datasets.stand_ins.mosta import StageModel, write_stage
from hiref.provenance import job_log


def main(sm) -> None:
    model = StageModel(genes=sm.params.genes, median_umi=sm.params.median_umi,
                       gene_dropout=sm.params.gene_dropout, seed=sm.params.seed)
    marker = write_stage(sm.output[0], stage=sm.wildcards.stage,
                         stage_index=sm.params.stage_index, n_cells=sm.params.cells,
                         tissues=sm.params.tissues, model=model)
    print(f"wrote {sm.output[0]}: {marker}")


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
