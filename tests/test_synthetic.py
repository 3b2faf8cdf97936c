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


def authors_halfmoon_scurve(n):
    """The authors' ret_pts('halfmoon_Scurve') (create_samplers + SklearnDistribution of
    their sweep notebook), written out: key 0 split in four; per side one more split, a
    random_state below 1e5, the sklearn sample rotated in float32, scaled and shifted."""
    import jax
    import jax.numpy as jnp
    import sklearn.datasets

    def side(rng, name, theta, mean, scale):
        rotation = jnp.array([[jnp.cos(theta), -jnp.sin(theta)], [jnp.sin(theta), jnp.cos(theta)]])
        rng, _ = jax.random.split(rng)
        seed = jax.random.randint(rng, [], minval=0, maxval=1e5).item()
        if name == "moon":
            samples, _ = sklearn.datasets.make_moons(n_samples=(n, 0), random_state=seed,
                                                     noise=0.05)
        else:
            samples = sklearn.datasets.make_s_curve(n_samples=n, random_state=seed,
                                                    noise=0.05)[0][:, [2, 0]]
        samples = jnp.asarray(samples, dtype=jnp.float32)
        samples = jnp.squeeze(jnp.matmul(rotation[None, :], samples.T).T)
        return np.asarray(mean + scale * samples)

    rng1, rng2, _, _ = jax.random.split(jax.random.key(0), 4)
    return (side(rng1, "moon", jnp.pi / 6, jnp.array([0.0, -0.5]), 1.0),
            side(rng2, "s_curve", -jnp.pi / 6, jnp.array([0.5, -2.0]), 0.6))


def test_halfmoon_scurve_seed_0_is_the_authors_draw():
    x, y = synthetic.halfmoon_scurve(1024, 0)
    ax, ay = authors_halfmoon_scurve(1024)
    np.testing.assert_allclose(x, ax, atol=1e-6)
    np.testing.assert_allclose(y, ay, atol=1e-6)
    # On this draw the paper's HiRef and Sinkhorn W1 lie just above the exact optimum.
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    from hiref.report import published

    cost = cdist(x.astype(np.float64), y.astype(np.float64))
    rows, cols = linear_sum_assignment(cost)
    exact = cost[rows, cols].mean()
    paper = published.load().query("experiment == 'synthetic' and metric == 'cost_p1'")
    values = paper.set_index("method")["value"]
    for method in ("hiref", "sinkhorn"):
        assert exact <= values[method] <= 1.01 * exact, (method, exact, values[method])


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
