"""Snakemake script: one consecutive MOSTA stage pair -> joint PCA, subsampled to equal sizes.

input: stage1, stage2 (h5ad). params: stages (names), n_comps, seed, stand_in (stand-in stages
are read only when it is true, and then only they are).
output: h5ad (subsampled joint AnnData with X_pca and spatial), npz (prepared dataset).
"""

import json

from hiref.datasets import save_prepared
from hiref.datasets.mosta import pair_arrays, preprocess_pair
from hiref.provenance import job_log


def main(sm) -> None:
    adata = preprocess_pair(
        sm.input.stage1,
        sm.input.stage2,
        stages=tuple(sm.params.stages),
        n_comps=sm.params.n_comps,
        seed=sm.params.seed,
        stand_in=sm.params.stand_in,
    )
    meta = save_prepared(adata, sm.output.h5ad, sm.output.npz, pair_arrays(adata))
    print(json.dumps(meta, indent=1))


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
