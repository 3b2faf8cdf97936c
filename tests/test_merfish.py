"""MERFISH preparation and gene-expression transfer on tiny CSVs shaped like Vizgen's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_fixtures import tissue, toy_replicates, write_replicate

from hiref.datasets.merfish import (
    center,
    dropped_cells,
    pair_arrays,
    prepare_pair,
    read_replicate,
    rotate,
)


@pytest.fixture
def replicates(tmp_path):
    return toy_replicates(tmp_path)


def test_geometry_helpers():
    np.testing.assert_allclose(rotate(np.array([[1.0, 0.0]]), 90), [[0.0, 1.0]], atol=1e-12)
    h = np.sqrt(0.5)
    np.testing.assert_allclose(rotate(np.array([[1.0, 0.0]]), 45), [[h, h]], atol=1e-12)
    np.testing.assert_allclose(center(np.array([[1.0, 2.0], [3.0, 6.0]])), [[-1, -2], [1, 2]])


def authors_slice(xy: np.ndarray, theta_deg: float = 0.0) -> np.ndarray:
    """The authors' util_merfish.plot_cell_positions, written out: centre, then
    theta0 = (pi/180) * -theta_deg and L @ [x_c; y_c]."""
    x_c, y_c = xy[:, 0] - np.mean(xy[:, 0]), xy[:, 1] - np.mean(xy[:, 1])
    theta0 = (np.pi / 180) * -theta_deg
    rot = np.array([[np.cos(theta0), -np.sin(theta0)], [np.sin(theta0), np.cos(theta0)]])
    return np.matmul(rot, np.array([x_c, y_c])).T


def authors_keep_mask(n_larger: int, n_smaller: int, seed: int) -> np.ndarray:
    """The authors' notebooks: np.random.seed(44) (um.set_seed), then the first draw."""
    np.random.seed(seed)
    indices_to_remove = np.random.choice(n_larger, n_larger - n_smaller, replace=False)
    mask = np.ones(n_larger, dtype=bool)
    mask[indices_to_remove] = False
    return mask


def test_prepare_pair_is_the_authors_geometry_and_drop(replicates):
    """Target rotated +45 degrees counter-clockwise (their theta_deg = -45) and the source's
    dropped cells the authors' exact draw, on a toy slice."""
    source, target, _ = replicates
    joint = prepare_pair(source, target, rotate_target_deg=45, seed=44)
    arrays = pair_arrays(joint)
    assert arrays["x"].shape == arrays["y"].shape == (110, 2)
    np.testing.assert_allclose(
        arrays["y"], authors_slice(target.obsm["spatial"], theta_deg=-45.0), rtol=1e-5, atol=1e-3
    )
    mask = authors_keep_mask(130, 110, 44)
    np.testing.assert_allclose(
        arrays["x"], authors_slice(source.obsm["spatial"])[mask], rtol=1e-5, atol=1e-3
    )
    np.testing.assert_array_equal(arrays["x_ids"], source.obs_names[mask])
    assert sorted(joint.uns["preprocess"]["dropped_rows"]["source"]) == list(np.flatnonzero(~mask))
    # A larger target slice loses cells by the same rule.
    flipped = pair_arrays(prepare_pair(target, source, rotate_target_deg=45, seed=44))
    np.testing.assert_array_equal(flipped["y_ids"], source.obs_names[mask])


def test_dropped_cells_at_the_papers_sizes():
    drop = dropped_cells(85958, 84172, 44)
    assert drop.shape == (1786,) and np.unique(drop).size == 1786
    np.testing.assert_array_equal(~authors_keep_mask(85958, 84172, 44), np.isin(np.arange(85958), drop))


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
