"""MERFISH preparation and gene-expression transfer on tiny CSVs shaped like Vizgen's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_fixtures import GENES, tissue, write_replicate
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from hiref.datasets.merfish import (
    PAPER_GENES,
    bin_average,
    center,
    cosine,
    gene_transfer_scores,
    matching_coupling,
    pair_arrays,
    plot_transfer,
    prepare_pair,
    read_replicate,
    rotate,
    summarise_transfer,
    transfer,
    transfer_markdown,
)


@pytest.fixture
def replicates(tmp_path):
    """Replicate 3 (source, 130 cells) and Replicate 2 (target, 110 of the same cells),
    the target rotated by +45 degrees and shifted, as if the slide sat differently."""
    xy, counts = tissue(130, 0)
    src = write_replicate(tmp_path, "S2R3", xy + [2000, 3000], counts, 10**12 + np.arange(130))
    keep = np.random.default_rng(1).choice(130, 110, replace=False)
    tgt_xy = rotate(xy[keep], 45) + [7000, -500]
    tgt = write_replicate(tmp_path, "S2R2", tgt_xy, counts[keep], 5 * 10**11 + np.arange(110))
    return read_replicate(*src, "S2R3"), read_replicate(*tgt, "S2R2"), keep


def test_geometry_helpers():
    np.testing.assert_allclose(rotate(np.array([[1.0, 0.0]]), 90), [[0.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(rotate(np.array([[1.0, 1.0]]), -45), [[np.sqrt(2), 0.0]], atol=1e-12)
    np.testing.assert_allclose(center(np.array([[1.0, 2.0], [3.0, 6.0]])), [[-1, -2], [1, 2]])


def test_read_replicate_aligns_counts_to_metadata_rows(replicates):
    source, _, _ = replicates
    xy, counts = tissue(130, 0)
    assert source.n_obs == 130 and list(source.var_names) == GENES
    np.testing.assert_allclose(source.obsm["spatial"], xy + [2000, 3000])
    np.testing.assert_allclose(source.X.toarray(), counts)  # despite the reversed CSV rows


def test_prepare_pair_centres_rotates_and_subsamples(replicates):
    source, target, _ = replicates
    a = prepare_pair(source, target, rotate_target_deg=-45, seed=44)
    b = prepare_pair(source, target, rotate_target_deg=-45, seed=44)
    arrays = pair_arrays(a)
    assert arrays["x"].shape == arrays["y"].shape == (110, 2)
    assert a.uns["preprocess"]["cells_before_subsampling"] == [130, 110]
    np.testing.assert_array_equal(arrays["x_ids"], pair_arrays(b)["x_ids"])
    assert not np.array_equal(
        arrays["x_ids"], pair_arrays(prepare_pair(source, target, seed=45))["x_ids"]
    )
    tgt = a[a.obs["slice"] == "target"]
    np.testing.assert_allclose(
        tgt.obsm["spatial"], rotate(center(target.obsm["spatial"]), -45), atol=1e-9
    )
    # The whole source slice was centred before subsampling, as in the authors' notebook.
    src = a[a.obs["slice"] == "source"]
    np.testing.assert_allclose(
        src.obsm["spatial"], src.obsm["spatial_raw"] - source.obsm["spatial"].mean(0)
    )


def test_transfer_through_permutation_and_coupling():
    values = np.array([10.0, 20.0, 30.0])
    perm = np.array([2, 0, 1])
    np.testing.assert_array_equal(
        transfer(values, (np.arange(3), perm, np.full(3, 1 / 3)), 3), [20, 30, 10]
    )
    coupling = (np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1]), np.array([0.25, 0.25, 0.4, 0.1]))
    np.testing.assert_allclose(transfer(values, coupling, 2), [15.0, 30.0])
    with pytest.raises(ValueError, match="leaves 1 target cell"):
        transfer(values, coupling, 3)


def test_bin_average_and_cosine():
    coords = np.array([[0.0, 0.0], [0.1, 0.1], [10.0, 10.0], [9.9, 10.0]])
    np.testing.assert_allclose(
        bin_average(np.array([1.0, 3.0, 5.0, 7.0]), coords, bins=2), [2, 2, 6, 6]
    )
    np.testing.assert_allclose(bin_average(np.array([1.0, 3.0, 5.0, 7.0]), coords, bins=1), [4] * 4)
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)


def test_optimal_matching_transfers_expression_better_than_random(replicates, tmp_path):
    source, target, _ = replicates
    joint = prepare_pair(source, target, rotate_target_deg=-45, seed=44)
    arrays = pair_arrays(joint)
    rows, cols = linear_sum_assignment(cdist(arrays["x"], arrays["y"]))
    w = np.full(len(rows), 1 / len(rows))
    good, smoothed = gene_transfer_scores(joint, (rows, cols, w), list(PAPER_GENES), bins=10)
    shuffled = np.random.default_rng(0).permutation(cols)
    bad, _ = gene_transfer_scores(joint, (rows, shuffled, w), list(PAPER_GENES), bins=10)
    assert list(good["gene"]) == list(PAPER_GENES) and (good["bins"] == 10).all()
    assert good["cosine_similarity"].mean() > 0.9
    assert good["cosine_similarity"].mean() > bad["cosine_similarity"].mean() + 0.05
    fig = plot_transfer(joint, smoothed, good, title="exact")
    fig.savefig(tmp_path / "transfer.png")
    assert (tmp_path / "transfer.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match=r"gene\(s\) \['Nope'\] are not in the MERFISH"):
        gene_transfer_scores(joint, (rows, cols, w), ["Gad1", "Nope"])


def test_bad_csvs_are_named(tmp_path):
    xy, counts = tissue(5, 3)
    meta, cbg = write_replicate(tmp_path, "S2R3", xy, counts, np.arange(5), drop_column="center_y")
    with pytest.raises(
        ValueError, match=r"cell_metadata_S2R3.csv: missing column\(s\) \['center_y'\]"
    ):
        read_replicate(meta, cbg, "S2R3")
    meta, cbg = write_replicate(tmp_path, "S2R2", xy, counts, np.arange(5))
    pd.read_csv(cbg, index_col=0).iloc[1:].to_csv(cbg)
    with pytest.raises(
        ValueError,
        match=r"cell_by_gene_S2R2.csv: 1 cell\(s\) of .*cell_metadata_S2R2.csv have no counts",
    ):
        read_replicate(meta, cbg, "S2R2")
    with pytest.raises(FileNotFoundError, match="missing.csv: MERFISH file does not exist"):
        read_replicate(tmp_path / "missing.csv", cbg, "S2R2")
    cbg.write_text("cell\n1\n2\n")
    with pytest.raises(ValueError, match="needs a cell id column followed by gene columns"):
        read_replicate(meta, cbg, "S2R2")


def test_matching_file_must_be_a_full_size_bijection(tmp_path):
    np.savez(tmp_path / "hiref.npz", perm=np.array([2, 0, 1]))
    rows, cols, weights = matching_coupling(tmp_path / "hiref.npz", 3)
    np.testing.assert_array_equal(cols, [2, 0, 1])
    assert weights.sum() == pytest.approx(1.0) and list(rows) == [0, 1, 2]
    np.savez(tmp_path / "frlc.npz", perm=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="frlc.npz: holds no matching"):
        matching_coupling(tmp_path / "frlc.npz", 3)
    with pytest.raises(
        ValueError, match="hiref.npz: matching of 3 points is not a bijection of the 4"
    ):
        matching_coupling(tmp_path / "hiref.npz", 4)


def test_transfer_summary_over_seeds():
    scores = pd.DataFrame(
        {
            "gene": ["Gad1", "Grm4"] * 3,
            "cosine_similarity": [0.9, 0.5, 0.7, 0.5, 0.8, 0.2],
            "bins": 75,
            "experiment": "merfish",
            "method": ["hiref"] * 4 + ["exact"] * 2,
            "n": 84172,
            "seed": [0, 0, 1, 1, 0, 0],
        }
    )
    summary = summarise_transfer(scores)
    hiref_gad1 = summary[(summary["method"] == "hiref") & (summary["gene"] == "Gad1")].iloc[0]
    assert hiref_gad1["mean"] == pytest.approx(0.8) and hiref_gad1["runs"] == 2
    assert hiref_gad1["sd"] == pytest.approx(np.std([0.9, 0.7], ddof=1))
    lines = transfer_markdown(summary).splitlines()
    assert "75 x 75 grid" in lines[0]
    assert lines[2].split("|")[1:4] == [
        " gene   ",
        " hiref (n = 84172)   ",
        " exact (n = 84172)   ",
    ]
    assert [c.strip() for c in lines[4].split("|")[1:4]] == ["Gad1", "0.800 ± 0.14", "0.800"]
    assert [c.strip() for c in lines[5].split("|")[1:4]] == ["Grm4", "0.500 ± 0", "0.200"]
