"""MOSTA pair preprocessing on tiny AnnData files shaped like the Stereo-seq stages."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from data_fixtures import make_stage

from hiref.datasets.mosta import pair_arrays, preprocess_pair, shared_genes


@pytest.fixture
def stages(tmp_path):
    genes1 = [f"Gene{i}" for i in range(60)]
    genes2 = [f"Gene{i}" for i in range(10, 80)]  # 50 shared
    return (
        make_stage(tmp_path / "E9.5_E1S1.MOSTA.h5ad", 40, genes1, 0),
        make_stage(tmp_path / "E10.5_E1S1.MOSTA.h5ad", 55, genes2, 1),
    )


def reference_pca(paths, genes, n_comps):
    """Independent numpy version: counts of shared genes, scale each cell to the median
    total, log1p, centre on the joint mean, top right singular vectors."""
    blocks = [ad.read_h5ad(p)[:, genes].layers["count"].toarray().astype(np.float64) for p in paths]
    counts = np.vstack(blocks)
    totals = counts.sum(1, keepdims=True)
    logn = np.log1p(counts / totals * np.median(totals))
    centred = logn - logn.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    scores = centred @ vt[:n_comps].T
    return scores[: len(blocks[0])], scores[len(blocks[0]) :]


def test_pair_matches_independent_pca_and_subsamples(stages):
    out = preprocess_pair(*stages, stages=("E9.5", "E10.5"), n_comps=5, seed=3)
    arrays = pair_arrays(out)
    assert arrays["x"].shape == arrays["y"].shape == (40, 5) and arrays["x"].dtype == np.float32
    assert out.uns["preprocess"]["cells_before_subsampling"] == [40, 55]
    assert out.n_vars == 50 and list(out.var_names) == [f"Gene{i}" for i in range(10, 60)]
    ref1, ref2 = reference_pca(stages, list(out.var_names), 5)
    y_rows = [int(name.split("cell")[1]) for name in arrays["y_ids"]]
    assert len(set(y_rows)) == 40
    # PCA signs are arbitrary: compare per component up to sign.
    for got, want in ((arrays["x"], ref1), (arrays["y"], ref2[y_rows])):
        for k in range(5):
            sign = np.sign(got[:, k] @ want[:, k])
            np.testing.assert_allclose(sign * got[:, k], want[:, k], rtol=1e-3, atol=1e-3)


def test_spatial_coordinates_and_annotations_travel_with_cells(stages):
    out = preprocess_pair(*stages, stages=("E9.5", "E10.5"), n_comps=5, seed=0)
    original = ad.read_h5ad(stages[1])
    kept = out[out.obs["stage"] == "E10.5"]
    names = [n.split(":", 1)[1] for n in kept.obs_names]
    np.testing.assert_allclose(kept.obsm["spatial"], original[names].obsm["spatial"])
    assert list(kept.obs["annotation"]) == list(original[names].obs["annotation"])


def test_subsampling_is_seeded(stages):
    a = pair_arrays(preprocess_pair(*stages, stages=("a", "b"), n_comps=4, seed=7))
    b = pair_arrays(preprocess_pair(*stages, stages=("a", "b"), n_comps=4, seed=7))
    c = pair_arrays(preprocess_pair(*stages, stages=("a", "b"), n_comps=4, seed=8))
    np.testing.assert_array_equal(a["y_ids"], b["y_ids"])
    assert not np.array_equal(a["y_ids"], c["y_ids"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count_layer": False}, r"has no layers\['count'\]"),
        ({"spatial": False}, r"has no obsm\['spatial'\]"),
    ],
)
def test_missing_layers_are_named(tmp_path, stages, kwargs, message):
    bad = make_stage(tmp_path / "E11.5_E1S1.MOSTA.h5ad", 10, ["Gene1", "Gene2"], 2, **kwargs)
    with pytest.raises(ValueError, match=r"E11\.5_E1S1\.MOSTA\.h5ad: " + message):
        preprocess_pair(stages[0], bad, stages=("E9.5", "E11.5"))


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_bad_files_and_gene_sets(tmp_path, stages):
    other = make_stage(tmp_path / "other.h5ad", 12, ["Xist", "Tsix"], 4)
    with pytest.raises(
        ValueError,
        match="E9.5_E1S1.MOSTA.h5ad and .*other.h5ad: the two stages share no gene names",
    ):
        shared_genes(stages[0], other)
    (tmp_path / "corrupt.h5ad").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match=r"corrupt.h5ad: not a readable h5ad \(HDF5\) file"):
        shared_genes(stages[0], tmp_path / "corrupt.h5ad")
    with pytest.raises(FileNotFoundError, match="absent.h5ad: MOSTA stage file does not exist"):
        shared_genes(stages[0], tmp_path / "absent.h5ad")
    dup = make_stage(tmp_path / "dup.h5ad", 5, ["Gene10", "Gene10", "Gene11"], 5)
    with pytest.raises(
        ValueError, match=r"dup.h5ad: gene names are not unique \(for example \['Gene10'\]\)"
    ):
        shared_genes(stages[0], dup)
    with pytest.raises(ValueError, match="30 PCA components need more than 2 shared genes"):
        preprocess_pair(
            stages[0],
            make_stage(tmp_path / "two.h5ad", 8, ["Gene20", "Gene21"], 6),
            stages=("a", "b"),
        )
