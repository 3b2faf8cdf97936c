"""The synthetic pairs: shapes, dtypes, seeding, and the paper's parameters."""

import numpy as np
import pytest

from hiref.datasets import load_pair, save_pair, synthetic


@pytest.mark.parametrize("name", list(synthetic.PAIRS))
def test_pair_shapes_and_seeding(name):
    x, y = synthetic.sample_pair(name, 100, seed=3)
    d = synthetic.DIMENSION[name]
    assert x.shape == y.shape == (100, d)
    assert x.dtype == y.dtype == np.float32
    assert np.isfinite(x).all() and np.isfinite(y).all()
    again = synthetic.sample_pair(name, 100, seed=3)
    other = synthetic.sample_pair(name, 100, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip((x, y), again))
    assert not np.array_equal(x, other[0])


def test_halfmoon_scurve_follows_the_paper():
    x, y = synthetic.sample_pair("halfmoon_scurve", 4000, seed=0)
    # S-curve: scale 0.6 about mean (0.5, -2); the half-moon sits near the origin.
    assert np.allclose(y.mean(0), [0.5, -2.0], atol=0.1)
    assert np.abs(x.mean(0)).max() < 1.0


def test_rings_have_four_radii():
    _, y = synthetic.sample_pair("moons_rings", 4000, seed=0)
    radii = np.linalg.norm(y, axis=1) / 3.0
    for r in (1.2, 0.9, 0.55, 0.25):
        assert np.mean(np.abs(radii - r) < 0.06) > 0.2


def test_unknown_pair_names_the_known_ones():
    with pytest.raises(ValueError, match="checkerboard"):
        synthetic.sample_pair("nope", 10, 0)


def test_save_and_load_round_trip(tmp_path):
    x, y = synthetic.sample_pair("gmm32", 20, seed=0)
    save_pair(tmp_path / "p.npz", x, y, seed=0)
    x2, y2 = load_pair(tmp_path / "p.npz")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]  # no temporary left behind
