"""Snakemake script: Vizgen MERFISH Slice 2 replicates -> centred, rotated, equal-size slices.

input: source_metadata, source_counts (Replicate 3), target_metadata, target_counts (Replicate 2).
params: rotate_target_deg, seed, stand_in (stand-in replicates are read only when it is true,
and then only they are). output: h5ad (joint AnnData, raw counts), npz (prepared dataset).
"""

import json

from hiref.datasets import save_prepared
from hiref.datasets.merfish import check_files, pair_arrays, prepare_pair, read_replicate
from hiref.provenance import job_log


def main(sm) -> None:
    # Check all four headers before reading either replicate in full.
    stand_in = sm.params.stand_in
    check_files(sm.input.source_metadata, sm.input.source_counts, stand_in=stand_in)
    check_files(sm.input.target_metadata, sm.input.target_counts, stand_in=stand_in)
    source = read_replicate(sm.input.source_metadata, sm.input.source_counts,
                            sm.params.names[0], stand_in=stand_in)
    target = read_replicate(sm.input.target_metadata, sm.input.target_counts,
                            sm.params.names[1], stand_in=stand_in)
    adata = prepare_pair(
        source, target, rotate_target_deg=sm.params.rotate_target_deg, seed=sm.params.seed
    )
    meta = save_prepared(adata, sm.output.h5ad, sm.output.npz, pair_arrays(adata))
    print(json.dumps(meta, indent=1))


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
