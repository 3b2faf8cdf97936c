"""Vizgen MERFISH mouse brain, Slice 2 Replicates 3 and 2 (paper, experiment 4).

Following the authors' MERFISH notebooks: cell centroids (``center_x``, ``center_y`` of
``cell_metadata_S2R*.csv``) of each replicate are centred on their mean; the target
(Replicate 2) is rotated by -45 degrees (counter-clockwise positive) so the slices are
roughly aligned; the larger slice (Replicate 3: 85,958 cells) loses random cells (seed 44)
down to the smaller one's size (84,172). The cost is Euclidean on these 2-D coordinates.
The raw cell-by-gene counts are kept for the gene-expression transfer score: a matching
moves each source cell's counts to its target cell; target and transferred expression
are averaged over a 75 x 75 grid of equal-width bins of the target coordinates, each cell
taking its bin's mean, and compared by cosine similarity (the authors' ``spatial_avg``
and ``transfer_and_visualize_gene``).
"""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

COORD_COLUMNS = ("center_x", "center_y")
SPATIAL_KEY = "spatial"
PAPER_GENES = ("Slc17a7", "Grm4", "Olig1", "Gad1", "Peg10")


def _header(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MERFISH file does not exist")
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV file: {err}") from err


def check_files(metadata_csv: str | os.PathLike, cell_by_gene_csv: str | os.PathLike) -> None:
    """Check the CSV headers of one replicate before reading any rows."""
    meta_cols = _header(Path(metadata_csv))
    missing = [c for c in COORD_COLUMNS if c not in meta_cols[1:]]
    if missing:
        raise ValueError(f"{metadata_csv}: missing column(s) {missing}; found {meta_cols}")
    if len(_header(Path(cell_by_gene_csv))) < 2:
        raise ValueError(f"{cell_by_gene_csv}: needs a cell id column followed by gene columns")


def read_replicate(
    metadata_csv: str | os.PathLike, cell_by_gene_csv: str | os.PathLike, name: str
) -> ad.AnnData:
    """One replicate as AnnData: raw counts in ``X`` (sparse), centroids in ``obsm['spatial']``.

    Both files are indexed by their first column (the cell id); every cell of the
    metadata must have a row of counts.
    """
    check_files(metadata_csv, cell_by_gene_csv)
    meta = pd.read_csv(metadata_csv, index_col=0)
    counts = pd.read_csv(cell_by_gene_csv, index_col=0)
    meta.index, counts.index = meta.index.astype(str), counts.index.astype(str)
    if meta.index.has_duplicates:
        raise ValueError(f"{metadata_csv}: cell ids in the first column are not unique")
    absent = meta.index.difference(counts.index)
    if len(absent):
        raise ValueError(
            f"{cell_by_gene_csv}: {len(absent)} cell(s) of {metadata_csv} have no counts "
            f"(for example {absent[:3].tolist()})"
        )
    coords = meta.loc[:, list(COORD_COLUMNS)].to_numpy(dtype=np.float64)
    if not np.isfinite(coords).all():
        raise ValueError(
            f"{metadata_csv}: {list(COORD_COLUMNS)} contain missing or non-numeric values"
        )
    counts = counts.loc[meta.index]
    try:
        matrix = sp.csr_matrix(counts.to_numpy(dtype=np.float32))
    except ValueError as err:
        raise ValueError(f"{cell_by_gene_csv}: gene counts must be numeric: {err}") from err
    adata = ad.AnnData(
        X=matrix,
        obs=pd.DataFrame({"replicate": name}, index=[f"{name}:{c}" for c in meta.index]),
        var=pd.DataFrame(index=counts.columns.astype(str)),
        obsm={SPATIAL_KEY: coords},
    )
    return adata


def center(xy: np.ndarray) -> np.ndarray:
    return xy - xy.mean(axis=0)


def rotate(xy: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate points about the origin by ``degrees`` (counter-clockwise positive)."""
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return xy @ rot.T


def prepare_pair(
    source: ad.AnnData, target: ad.AnnData, *, rotate_target_deg: float = -45.0, seed: int = 44
) -> ad.AnnData:
    """Centre both slices, rotate the target, subsample the larger slice to the smaller size.

    Returns the joint AnnData (source rows first) with ``obs['slice']`` in
    ``{'source', 'target'}``, transformed coordinates in ``obsm['spatial']`` and the raw
    ones in ``obsm['spatial_raw']``; genes are those measured in both slices.
    """
    genes = source.var_names.intersection(target.var_names, sort=False)
    if len(genes) == 0:
        raise ValueError("the two MERFISH replicates share no gene columns")
    n = min(source.n_obs, target.n_obs)
    rng = np.random.default_rng(seed)
    parts = []
    for role, adata, angle in (("source", source, 0.0), ("target", target, rotate_target_deg)):
        part = adata[:, genes].copy()
        part.obsm["spatial_raw"] = part.obsm[SPATIAL_KEY]
        part.obsm[SPATIAL_KEY] = rotate(center(part.obsm[SPATIAL_KEY]), angle)
        part.obs["slice"] = role
        if part.n_obs > n:
            part = part[np.sort(rng.choice(part.n_obs, n, replace=False))].copy()
        parts.append(part)
    joint = ad.concat(parts)
    joint.uns["preprocess"] = {
        "replicates": [source.obs["replicate"].iloc[0], target.obs["replicate"].iloc[0]],
        "cells_before_subsampling": [source.n_obs, target.n_obs],
        "n": n,
        "rotate_target_deg": rotate_target_deg,
        "seed": seed,
        "steps": "centre both, rotate target, subsample larger slice (seeded)",
    }
    return joint


def pair_arrays(adata: ad.AnnData) -> dict[str, np.ndarray]:
    """Prepared-dataset arrays: ``x`` (source) and ``y`` (target) float32 coordinates and ids."""
    is_x = (adata.obs["slice"] == "source").to_numpy()
    xy = np.asarray(adata.obsm[SPATIAL_KEY], dtype=np.float32)
    names = adata.obs_names.to_numpy().astype(str)
    return {"x": xy[is_x], "y": xy[~is_x], "x_ids": names[is_x], "y_ids": names[~is_x]}


def matching_coupling(
    path: str | os.PathLike, n_target: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The coupling of a run's matching file (``perm``: x row ``i`` -> y row ``perm[i]``).

    Methods that return a plan rather than a bijection leave ``perm`` empty; runs on a
    subsample (``n`` below the prepared size) index rows that this file cannot map back.
    """
    with np.load(path) as data:
        perm = data["perm"]
    if perm.size == 0:
        raise ValueError(f"{path}: holds no matching (the method returns a plan, not a bijection)")
    if len(perm) != n_target or np.unique(perm).size != n_target:
        raise ValueError(
            f"{path}: matching of {len(perm)} points is not a bijection of the {n_target} prepared "
            "cells; gene transfer needs the run at the full size (n = prepared size)"
        )
    return np.arange(n_target), perm.astype(np.int64), np.full(n_target, 1.0 / n_target)


def transfer(
    values: np.ndarray, coupling: tuple[np.ndarray, np.ndarray, np.ndarray], n_target: int
) -> np.ndarray:
    """Move source values to the target cells through a sparse coupling ``(rows, cols, weights)``.

    Each target cell receives the coupling-weighted mean of its source cells; for a
    permutation that is the value of its one matched source cell.
    """
    rows, cols, weights = (np.asarray(a) for a in coupling)
    mass = np.bincount(cols, weights=weights, minlength=n_target)
    moved = np.bincount(cols, weights=weights * values[rows], minlength=n_target)
    if np.any(mass <= 0):
        raise ValueError(
            f"the coupling leaves {int(np.sum(mass <= 0))} target cell(s) without mass"
        )
    return moved / mass


def bin_average(values: np.ndarray, coords: np.ndarray, bins: int = 75) -> np.ndarray:
    """Each cell's value replaced by the mean over its cell of a ``bins x bins`` grid of
    equal-width bins spanning ``coords`` (``pandas.cut``, as the authors' ``spatial_avg``)."""
    bx = pd.cut(coords[:, 0], bins=bins, labels=False)
    by = pd.cut(coords[:, 1], bins=bins, labels=False)
    cell = np.asarray(bx, dtype=np.int64) * bins + np.asarray(by, dtype=np.int64)
    sums = np.bincount(cell, weights=values, minlength=bins * bins)
    counts = np.bincount(cell, minlength=bins * bins)
    return (sums / np.maximum(counts, 1))[cell]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def _gene_values(adata: ad.AnnData, gene: str) -> np.ndarray:
    col = adata[:, gene].X
    return np.asarray(col.todense() if sp.issparse(col) else col, dtype=np.float64).ravel()


def gene_transfer_scores(
    adata: ad.AnnData,
    coupling: tuple[np.ndarray, np.ndarray, np.ndarray],
    genes: list[str],
    *,
    bins: int = 75,
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Cosine similarity of binned target and transferred expression, one row per gene.

    ``coupling`` indexes source cells (rows, the ``x`` of :func:`pair_arrays`) and target
    cells (cols, the ``y``). Returns the table and, per gene, the binned target and
    transferred expression for plotting.
    """
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise ValueError(f"gene(s) {missing} are not in the MERFISH cell-by-gene matrix")
    is_x = (adata.obs["slice"] == "source").to_numpy()
    src, tgt = adata[is_x], adata[~is_x]
    coords = np.asarray(tgt.obsm[SPATIAL_KEY])
    rows, smoothed = [], {}
    for gene in genes:
        true_b = bin_average(_gene_values(tgt, gene), coords, bins)
        moved_b = bin_average(transfer(_gene_values(src, gene), coupling, tgt.n_obs), coords, bins)
        smoothed[gene] = (true_b, moved_b)
        rows.append({"gene": gene, "cosine_similarity": cosine(true_b, moved_b), "bins": bins})
    return pd.DataFrame(rows), smoothed


def plot_transfer(
    adata: ad.AnnData,
    smoothed: dict[str, tuple[np.ndarray, np.ndarray]],
    scores: pd.DataFrame,
    title: str = "",
):
    """Figure: both slices after centring/rotation, then per gene the binned target
    expression (top) above the binned transferred expression (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    is_x = (adata.obs["slice"] == "source").to_numpy()
    xy = np.asarray(adata.obsm[SPATIAL_KEY])
    genes = list(smoothed)
    fig, axes = plt.subplots(
        2, len(genes) + 1, figsize=(3.2 * (len(genes) + 1), 6.4), squeeze=False
    )
    # Marker size and opacity shrink with the number of cells (a few hundred in tests, 168k real).
    size = max(0.05, min(4.0, 2e4 / max(len(xy), 1)))
    alpha = max(0.1, min(0.8, 2e4 / max(len(xy), 1)))
    axes[0, 0].scatter(*xy[is_x].T, s=size, c="tab:red", alpha=alpha, lw=0, label="source")
    axes[0, 0].scatter(*xy[~is_x].T, s=size, c="tab:blue", alpha=alpha, lw=0, label="target")
    axes[0, 0].legend(markerscale=4, loc="lower right", fontsize=7)
    axes[0, 0].set_title("slices (centred, rotated)")
    axes[1, 0].axis("off")
    score = scores.set_index("gene")["cosine_similarity"]
    for k, gene in enumerate(genes, start=1):
        true_b, moved_b = smoothed[gene]
        vmax = max(true_b.max(), moved_b.max()) or 1.0
        for row, (vals, label) in enumerate(((true_b, "target"), (moved_b, "transferred"))):
            axes[row, k].scatter(
                *xy[~is_x].T, s=size, c=vals, cmap="viridis", vmin=0, vmax=vmax, lw=0
            )
            axes[row, k].set_title(
                f"{gene} {label}" + (f"\ncos = {score[gene]:.3f}" if row else ""), fontsize=9
            )
    for ax in axes.flat:
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def summarise_transfer(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds of the cosine similarity per
    experiment, n, method and gene (``scores``: rows of the per-run score files)."""
    keys = ["experiment", "n", "method", "bins", "gene"]
    grouped = scores.groupby(keys, sort=False)["cosine_similarity"]
    return grouped.agg(mean="mean", sd="std", runs="count").reset_index()


def transfer_markdown(summary: pd.DataFrame) -> str:
    """Genes as rows, one column per method (and n): mean +- sd over seeds."""
    cell = [
        f"{m:.3f}" if np.isnan(s) else f"{m:.3f} ± {s:.2g}"
        for m, s in zip(summary["mean"], summary["sd"])
    ]
    column = [f"{m} (n = {n})" for m, n in zip(summary["method"], summary["n"])]
    table = pd.DataFrame({"gene": summary["gene"], "column": column, "cell": cell})
    wide = table.pivot(index="gene", columns="column", values="cell")
    wide = wide.reindex(
        index=list(dict.fromkeys(summary["gene"])), columns=list(dict.fromkeys(column))
    )
    bins = ", ".join(f"{b} x {b}" for b in summary["bins"].unique())
    header = (
        "Gene-expression transfer: cosine similarity of the target slice's expression and the "
        f"expression transferred by each method's matching, both averaged over a {bins} grid "
        "of bins of the target slice; mean ± sd over seeds.\n\n"
    )
    return header + wide.to_markdown(disable_numparse=True) + "\n"
