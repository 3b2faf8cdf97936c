"""MOSTA mouse-embryo Stereo-seq stages (paper, experiment 3).

For a pair of consecutive stages, following the authors' ``preprocess_embryo``: raw counts
from ``layers['count']``, genes shared by both stages, concatenation, ``normalize_total``,
``log1p`` and one joint PCA with 30 components over all cells of both stages. The larger
stage is then subsampled (seeded, without replacement) to the size of the smaller, the
paper's way of getting ``|X| = |Y|``; the subsampling is recorded in the output.

Stage files are checked with h5py (keys, gene names and the stand-in marker only) before any
matrix is read: they are hundreds of MB to several GB. A stand-in stage
(:mod:`hiref.datasets.stand_ins.mosta`) is read only with ``stand_in=True``, and then only
stand-ins are (:func:`hiref.datasets.stand_ins.markers.judge`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from hiref.datasets.stand_ins.markers import h5_marker, judge

COUNT_LAYER = "count"
SPATIAL_KEY = "spatial"


def stage_genes(path: str | os.PathLike, *, stand_in: bool = False) -> tuple[pd.Index, dict | None]:
    """Check an h5ad stage file for ``layers['count']`` and ``obsm['spatial']`` (n, >= 2)
    and for the stand-in marker (refused unless ``stand_in``, required if it is); return its
    gene names and its marker. Every problem is a ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MOSTA stage file does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable h5ad (HDF5) file: {err}") from err
    with f:
        marker = h5_marker(f)
        judge(path, marker, stand_in=stand_in, what="MOSTA stage file")
        if f"layers/{COUNT_LAYER}" not in f:
            layers = list(f["layers"].keys()) if "layers" in f else []
            raise ValueError(
                f"{path}: has no layers['{COUNT_LAYER}'] with raw counts (layers: {layers})"
            )
        if f"obsm/{SPATIAL_KEY}" not in f:
            obsm = list(f["obsm"].keys()) if "obsm" in f else []
            raise ValueError(
                f"{path}: has no obsm['{SPATIAL_KEY}'] spatial coordinates (obsm: {obsm})"
            )
        spatial = f[f"obsm/{SPATIAL_KEY}"]
        if not isinstance(spatial, h5py.Dataset) or spatial.ndim != 2 or spatial.shape[1] < 2:
            raise ValueError(f"{path}: obsm['{SPATIAL_KEY}'] must be an (n_cells, 2) array")
        genes = ad.io.read_elem(f["var"]).index
    if genes.has_duplicates:
        dup = genes[genes.duplicated()].unique()[:5].tolist()
        raise ValueError(f"{path}: gene names are not unique (for example {dup})")
    return genes, marker


def shared_genes(path1: str | os.PathLike, path2: str | os.PathLike, *,
                 stand_in: bool = False) -> tuple[list[str], list[dict | None]]:
    """Genes present in both stage files, in the first file's order (as the authors'
    ``intersect``), and the two files' stand-in markers (:func:`stage_genes`)."""
    (genes1, marker1), (genes2, marker2) = (stage_genes(p, stand_in=stand_in)
                                            for p in (path1, path2))
    common = genes1[genes1.isin(genes2)]
    if len(common) == 0:
        raise ValueError(f"{path1} and {path2}: the two stages share no gene names")
    return list(common), [marker1, marker2]


def _read_counts(path: str | os.PathLike, genes: list[str], stage: str) -> ad.AnnData:
    """The raw counts of ``genes`` (in that order), ``obs`` and the spatial coordinates of
    one stage. Only these elements are read: ``X`` (a processed copy of the counts in the
    real files) would double the memory of the largest stages."""
    with h5py.File(path, "r") as f:
        columns = ad.io.read_elem(f["var"]).index.get_indexer(genes)
        counts = sp.csr_matrix(ad.io.read_elem(f[f"layers/{COUNT_LAYER}"]))[:, columns]
        obs = ad.io.read_elem(f["obs"])
        spatial = np.asarray(f[f"obsm/{SPATIAL_KEY}"])[:, :2]
    out = ad.AnnData(X=counts, obs=obs, var=pd.DataFrame(index=pd.Index(genes)),
                     obsm={SPATIAL_KEY: spatial})
    out.obs["stage"] = stage
    out.obs_names = [f"{stage}:{name}" for name in obs.index]
    return out


def preprocess_pair(
    path1: str | os.PathLike,
    path2: str | os.PathLike,
    *,
    stages: tuple[str, str],
    n_comps: int = 30,
    seed: int = 0,
    stand_in: bool = False,
) -> ad.AnnData:
    """Joint preprocessing of two stages; returns the subsampled joint AnnData.

    ``obs['stage']`` tells the stages apart (the first ``n`` rows are ``stages[0]``),
    ``obsm['X_pca']`` holds the joint PCA coordinates and ``obsm['spatial']`` the spatial
    ones; ``uns['preprocess']`` records the settings, the cell counts before subsampling
    and, for stand-in stages (read only with ``stand_in=True``), their markers under
    ``stand_in``.
    """
    import scanpy as sc

    if stages[0] == stages[1]:
        raise ValueError(f"the two stages must differ, got {stages}")
    genes, markers = shared_genes(path1, path2, stand_in=stand_in)
    if n_comps >= len(genes):
        raise ValueError(
            f"{path1} and {path2}: {n_comps} PCA components need more than {len(genes)} shared genes"
        )
    slices = [_read_counts(p, genes, s) for p, s in zip((path1, path2), stages)]
    sizes = [s.n_obs for s in slices]
    joint = ad.concat(slices, join="inner", merge="same")
    del slices  # the concatenation holds its own copy of the counts
    sc.pp.normalize_total(joint)
    sc.pp.log1p(joint)
    # mask_var=None: every shared gene, even if a 'highly_variable' column were present.
    sc.pp.pca(joint, n_comps=n_comps, mask_var=None, random_state=seed)

    n = min(sizes)
    rng = np.random.default_rng(seed)
    keep = []
    offset = 0
    for size in sizes:
        rows = np.arange(size) if size == n else np.sort(rng.choice(size, n, replace=False))
        keep.append(offset + rows)
        offset += size
    out = joint[np.concatenate(keep)].copy()
    out.uns["preprocess"] = {
        "stages": list(stages),
        "files": [str(path1), str(path2)],
        "cells_before_subsampling": sizes,
        "n": n,
        "shared_genes": len(genes),
        "n_comps": n_comps,
        "seed": seed,
        "steps": "layers['count'], shared genes, concat, normalize_total, log1p, joint PCA, subsample larger stage",
    }
    if stand_in:  # JSON text: h5ad's uns holds no list of mappings
        out.uns["preprocess"]["stand_in"] = json.dumps(dict(zip(stages, markers)))
    return out



def pair_arrays(adata: ad.AnnData) -> dict[str, np.ndarray]:
    """The prepared-dataset arrays: ``x``, ``y`` (float32 PCA coordinates) and their cell ids."""
    first = adata.uns["preprocess"]["stages"][0]
    is_x = (adata.obs["stage"] == first).to_numpy()
    pca = np.asarray(adata.obsm["X_pca"], dtype=np.float32)
    names = adata.obs_names.to_numpy().astype(str)
    return {"x": pca[is_x], "y": pca[~is_x], "x_ids": names[is_x], "y_ids": names[~is_x]}
