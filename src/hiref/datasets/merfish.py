"""Vizgen MERFISH mouse brain, Slice 2 Replicates 3 and 2 (paper, experiment 4).

Following the authors' MERFISH notebooks: cell centroids (``center_x``, ``center_y`` of
``cell_metadata_S2R*.csv``) of each replicate are centred on their mean; the target
(Replicate 2) is rotated by +45 degrees counter-clockwise, so (1, 0) goes to
(0.707, 0.707) (the authors call their rotation with ``theta_deg = -45`` and rotate by
``-theta_deg``); the larger slice (Replicate 3: 85,958 cells) loses the cells
``np.random.RandomState(44).choice(85958, 1786, replace=False)``, their exact draw, keeping
the file order of the others (84,172). The cost is Euclidean on these 2-D coordinates. The
raw cell-by-gene counts are kept for the gene-expression transfer scores
(:mod:`hiref.report.gene_transfer`). Stand-in replicates
(:mod:`hiref.datasets.stand_ins.merfish`, gzipped with a marked header) are read only with
``stand_in=True``, and then only stand-ins are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from hiref.datasets.stand_ins.markers import gzip_file_marker, judge

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


def check_files(metadata_csv: str | os.PathLike, cell_by_gene_csv: str | os.PathLike, *,
                stand_in: bool = False) -> dict | None:
    """Check the CSV headers of one replicate before reading any rows, and the stand-in
    markers (:func:`hiref.datasets.stand_ins.markers.judge`); returns the marker."""
    meta_cols = _header(Path(metadata_csv))
    missing = [c for c in COORD_COLUMNS if c not in meta_cols[1:]]
    if missing:
        raise ValueError(f"{metadata_csv}: missing column(s) {missing}; found {meta_cols}")
    if len(_header(Path(cell_by_gene_csv))) < 2:
        raise ValueError(f"{cell_by_gene_csv}: needs a cell id column followed by gene columns")
    markers = [gzip_file_marker(path) for path in (metadata_csv, cell_by_gene_csv)]
    for path, marker in zip((metadata_csv, cell_by_gene_csv), markers):
        judge(path, marker, stand_in=stand_in, what="MERFISH file")
    return markers[0]


def read_replicate(
    metadata_csv: str | os.PathLike, cell_by_gene_csv: str | os.PathLike, name: str, *,
    stand_in: bool = False,
) -> ad.AnnData:
    """One replicate as AnnData: raw counts in ``X`` (sparse), centroids in ``obsm['spatial']``,
    and for a stand-in (read only with ``stand_in=True``) its marker in ``uns['stand_in']``
    (JSON text).

    Both files are indexed by their first column (the cell id); every cell of the
    metadata must have a row of counts.
    """
    marker = check_files(metadata_csv, cell_by_gene_csv, stand_in=stand_in)
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
    if marker is not None:
        adata.uns["stand_in"] = json.dumps(marker)
    return adata


def center(xy: np.ndarray) -> np.ndarray:
    return xy - xy.mean(axis=0)


def rotate(xy: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate points about the origin by ``degrees``, counter-clockwise positive:
    ``rotate([[1, 0]], 45)`` is ``[[0.707, 0.707]]``."""
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return xy @ rot.T


def dropped_cells(n_larger: int, n_smaller: int, seed: int) -> np.ndarray:
    """Rows the larger slice loses so both have ``n_smaller`` cells: the authors' draw
    ``np.random.seed(seed); np.random.choice(n_larger, n_larger - n_smaller, replace=False)``
    (seed 44: 1786 of Replicate 3's 85,958 cells), in the order drawn."""
    return np.random.RandomState(seed).choice(n_larger, n_larger - n_smaller, replace=False)


def prepare_pair(
    source: ad.AnnData, target: ad.AnnData, *, rotate_target_deg: float = 45.0, seed: int = 44
) -> ad.AnnData:
    """Centre both slices, rotate the target, drop the larger slice's :func:`dropped_cells`.

    Each slice is centred on the mean of all its cells; the others keep their file order.
    Returns the joint AnnData (source rows first) with ``obs['slice']`` in
    ``{'source', 'target'}``, transformed coordinates in ``obsm['spatial']`` and the raw
    ones in ``obsm['spatial_raw']``; genes are those measured in both slices;
    ``uns['preprocess']`` records the settings, the dropped rows and, for stand-ins, the
    replicates' markers (``stand_in``, JSON text).
    """
    genes = source.var_names.intersection(target.var_names, sort=False)
    if len(genes) == 0:
        raise ValueError("the two MERFISH replicates share no gene columns")
    n = min(source.n_obs, target.n_obs)
    parts, dropped = [], {}
    for role, adata, angle in (("source", source, 0.0), ("target", target, rotate_target_deg)):
        part = adata[:, genes].copy()
        part.obsm["spatial_raw"] = part.obsm[SPATIAL_KEY]
        part.obsm[SPATIAL_KEY] = rotate(center(part.obsm[SPATIAL_KEY]), angle)
        part.obs["slice"] = role
        if part.n_obs > n:
            drop = dropped_cells(part.n_obs, n, seed)
            keep = np.ones(part.n_obs, dtype=bool)
            keep[drop] = False
            part = part[keep].copy()
            dropped[role] = drop.tolist()
        parts.append(part)
    joint = ad.concat(parts)
    joint.uns["preprocess"] = {
        "replicates": [source.obs["replicate"].iloc[0], target.obs["replicate"].iloc[0]],
        "cells_before_subsampling": [source.n_obs, target.n_obs],
        "n": n,
        "rotate_target_deg": rotate_target_deg,
        "seed": seed,
        "dropped_rows": dropped,
        "steps": (
            "centre both slices; rotate the target counter-clockwise by rotate_target_deg; "
            "the larger slice drops np.random.RandomState(seed).choice(n_larger, "
            "n_larger - n_smaller, replace=False)"
        ),
    }
    markers = {adata.obs["replicate"].iloc[0]: json.loads(adata.uns["stand_in"])
               for adata in (source, target) if "stand_in" in adata.uns}
    if markers:
        joint.uns["preprocess"]["stand_in"] = json.dumps(markers)
    return joint


def pair_arrays(adata: ad.AnnData) -> dict[str, np.ndarray]:
    """Prepared-dataset arrays: ``x`` (source) and ``y`` (target) float32 coordinates and ids."""
    is_x = (adata.obs["slice"] == "source").to_numpy()
    xy = np.asarray(adata.obsm[SPATIAL_KEY], dtype=np.float32)
    names = adata.obs_names.to_numpy().astype(str)
    return {"x": xy[is_x], "y": xy[~is_x], "x_ids": names[is_x], "y_ids": names[~is_x]}
