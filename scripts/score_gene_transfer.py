"""Snakemake script: gene-expression transfer through one MERFISH run's matching.

input: h5ad (prepared MERFISH pair), matching (the run's .npz). params: genes, bins, label.
output: csv (gene, cosine_similarity, bins, run labels), png and pdf (slices and expression).
"""

from contextlib import redirect_stderr, redirect_stdout

import anndata as ad

from hiref.datasets.merfish import gene_transfer_scores, matching_coupling, plot_transfer


def main(sm) -> None:
    adata = ad.read_h5ad(sm.input.h5ad)
    n_target = int((adata.obs["slice"] == "target").sum())
    coupling = matching_coupling(sm.input.matching, n_target)
    scores, smoothed = gene_transfer_scores(
        adata, coupling, list(sm.params.genes), bins=sm.params.bins
    )
    for key, value in sm.params.labels.items():
        scores[key] = value
    scores.to_csv(sm.output.csv, index=False)
    label = ", ".join(f"{k} {v}" for k, v in sm.params.labels.items())
    fig = plot_transfer(adata, smoothed, scores, title=f"MERFISH gene transfer: {label}")
    fig.savefig(sm.output.png, dpi=150)
    fig.savefig(sm.output.pdf)
    print(scores.to_string(index=False))


with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):  # noqa: F821
    main(snakemake)  # noqa: F821
