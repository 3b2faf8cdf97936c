"""Snakemake script: gene-expression transfer through one MERFISH run's transport.

input: h5ad (prepared MERFISH pair), matching (the run's .npz), record (the run's JSON).
params: genes, bins, labels. output: csv (gene, definition, cosine_similarity, bins,
targets_reached, the run's labels, cost, params and stand_in), png and pdf (slices and
expression; titled as stand-in data when the run was).
"""

import json

import anndata as ad

from hiref.provenance import atomic_path, job_log
from hiref.report.gene_transfer import gene_transfer_scores, plot_transfer, read_transport
from hiref.report.stand_in import TITLE as STAND_IN_TITLE


def main(sm) -> None:
    adata = ad.read_h5ad(sm.input.h5ad)
    n_target = int((adata.obs["slice"] == "target").sum())
    transport = read_transport(sm.input.matching, adata.n_obs - n_target, n_target)
    scores, smoothed = gene_transfer_scores(
        adata, transport, list(sm.params.genes), bins=sm.params.bins
    )
    with open(sm.input.record) as fh:
        record = json.load(fh)
    for key, value in sm.params.labels.items():
        scores[key] = value
    scores["cost"] = record["cost"]
    scores["stand_in"] = record["stand_in"]
    scores["params"] = json.dumps(record["params"], sort_keys=True)
    with atomic_path(sm.output.csv) as tmp:
        scores.to_csv(tmp, index=False)
    label = ", ".join(f"{k} {v}" for k, v in sm.params.labels.items())
    prefix = STAND_IN_TITLE if record["stand_in"] else ""
    fig = plot_transfer(adata, smoothed, scores, title=f"{prefix}MERFISH gene transfer: {label}")
    with atomic_path(sm.output.png) as png, atomic_path(sm.output.pdf) as pdf:
        fig.savefig(png, dpi=150)
        fig.savefig(pdf)
    print(scores.drop(columns="params").to_string(index=False))


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
