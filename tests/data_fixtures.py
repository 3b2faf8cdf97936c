"""Builders of small files shaped like the real data: COCO-like JPEGs and zips, MOSTA-like
h5ad stages, Vizgen-like MERFISH CSVs. Shared by the unit tests and the workflow test."""

from __future__ import annotations

import zipfile

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from PIL import Image

from hiref.datasets.merfish import PAPER_GENES, read_replicate, rotate


def make_images(folder, n=6, seed=0):
    """JPEGs of varied sizes plus a greyscale JPEG, a CMYK JPEG and an RGBA PNG."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = rng.integers(40, 120, size=2)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            folder / f"{i:012d}.jpg"
        )
    Image.fromarray(rng.integers(0, 256, (50, 70), dtype=np.uint8), mode="L").save(
        folder / "grey.jpg"
    )
    Image.fromarray(rng.integers(0, 256, (60, 60, 4), dtype=np.uint8), mode="CMYK").save(
        folder / "cmyk.jpg"
    )
    (folder / "sub").mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 90, 4), dtype=np.uint8), mode="RGBA").save(
        folder / "sub" / "a.png"
    )
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(b"macOS resource fork")
    return folder


def zip_folder(folder, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, f"val2017/{f.relative_to(folder)}")
    return path


def make_stage(path, n_cells, genes, seed, *, count_layer=True, spatial=True):
    """An h5ad like ``E9.5_E1S1.MOSTA.h5ad``: raw counts in layers['count'], a processed X,
    obsm['spatial'] and obs['annotation']."""
    rng = np.random.default_rng(seed)
    counts = sp.csr_matrix(
        rng.poisson(rng.gamma(0.6, 2.0, size=len(genes)), size=(n_cells, len(genes))).astype(
            np.float32
        )
    )
    adata = ad.AnnData(
        X=sp.csr_matrix(
            rng.normal(size=(n_cells, len(genes))).astype(np.float32)
        ),  # not the counts
        obs=pd.DataFrame(
            {"annotation": rng.choice(["Heart", "Brain", "Liver"], n_cells)},
            index=[f"cell{i}" for i in range(n_cells)],
        ),
        var=pd.DataFrame(index=genes),
    )
    if count_layer:
        adata.layers["count"] = counts
    if spatial:
        adata.obsm["spatial"] = rng.uniform(0, 500, size=(n_cells, 2))
    adata.write_h5ad(path)
    return path


GENES = [*PAPER_GENES, "Blank-1"]


def tissue(n, seed):
    """Cell centroids in a disc and counts that follow smooth spatial patterns."""
    rng = np.random.default_rng(seed)
    r, t = 100 * np.sqrt(rng.uniform(size=n)), rng.uniform(0, 2 * np.pi, n)
    xy = np.c_[r * np.cos(t), r * np.sin(t)]
    rates = np.c_[
        np.exp(xy[:, 0] / 40),
        np.exp(-xy[:, 1] / 40),
        3 * (xy[:, 0] > 0),
        1 + np.sin(xy[:, 1] / 15) ** 2,
        np.hypot(*xy.T) / 20,
        np.full(n, 0.1),
    ]
    return xy, rng.poisson(rates).astype(float)


def write_replicate(folder, name, xy, counts, ids, *, drop_column=None):
    """``cell_metadata_<name>.csv`` (unnamed id column, fov, volume, center_x, ...) and
    ``cell_by_gene_<name>.csv`` (``cell`` id column, one column per gene)."""
    folder.mkdir(exist_ok=True)
    meta = pd.DataFrame(
        {
            "fov": 0,
            "volume": 500.0,
            "center_x": xy[:, 0],
            "center_y": xy[:, 1],
            "min_x": xy[:, 0] - 5,
            "max_x": xy[:, 0] + 5,
        },
        index=pd.Index(ids),
    )
    if drop_column:
        meta = meta.drop(columns=drop_column)
    meta_path, cbg_path = folder / f"cell_metadata_{name}.csv", folder / f"cell_by_gene_{name}.csv"
    meta.to_csv(meta_path)
    pd.DataFrame(counts, columns=GENES, index=pd.Index(ids, name="cell")).iloc[::-1].to_csv(
        cbg_path
    )  # other row order
    return meta_path, cbg_path


def toy_replicates(folder):
    """Replicate 3 (source, 130 cells) and Replicate 2 (target, 110 of the same cells) read
    from Vizgen-like CSVs, the target rotated by -45 degrees and shifted, as the real
    Replicate 2 sits (the authors' +45 degree rotation brings it back)."""
    xy, counts = tissue(130, 0)
    src = write_replicate(folder, "S2R3", xy + [2000, 3000], counts, 10**12 + np.arange(130))
    keep = np.random.default_rng(1).choice(130, 110, replace=False)
    tgt_xy = rotate(xy[keep], -45) + [7000, -500]
    tgt = write_replicate(folder, "S2R2", tgt_xy, counts[keep], 5 * 10**11 + np.arange(110))
    return read_replicate(*src, "S2R3"), read_replicate(*tgt, "S2R2"), keep
