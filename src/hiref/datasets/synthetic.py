"""The paper's synthetic pairs, and Gaussian mixtures in higher dimension.

Each generator is ``pair(n, seed) -> (x, y)`` with float32 arrays of shape (n, d). The 2-D
pairs follow the authors' notebooks (parameters in ``shared/paper.md``); the checkerboard
uses ott-jax's own Gaussian-mixture sampler, and half-moon -> S-curve the authors' sampler
itself, so that seed 0 is their draw. Every random step is seeded by ``seed``.
"""

from __future__ import annotations

import functools

import numpy as np


def checkerboard(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ott-jax ``square_five`` -> ``square_four`` Gaussian mixtures (scale 5, std 0.5)."""
    import jax
    from ott.datasets import GaussianMixture

    from hiref.seeds import jax_key

    key_x, key_y = jax.random.split(jax_key(seed))
    x = next(iter(GaussianMixture("square_five", batch_size=n, rng=key_x)))
    y = next(iter(GaussianMixture("square_four", batch_size=n, rng=key_y)))
    return np.asarray(x, np.float32), np.asarray(y, np.float32)


def moons_rings(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The MAF moon (a bent Gaussian) -> four noisy concentric rings, as in the authors' code."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    x[:, 0] = 0.5 * (x[:, 0] + x[:, 1] ** 2) - 5.0
    sizes = [n // 4] * 3 + [n - 3 * (n // 4)]
    rings = [
        radius * np.stack([np.cos(t), np.sin(t)], axis=1)
        for radius, size in zip((1.2, 0.9, 0.55, 0.25), sizes)
        for t in [np.linspace(0, 2 * np.pi, size, endpoint=False)]
    ]
    y = 3.0 * rng.permutation(np.concatenate(rings)) + 0.08 * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.float32)


def _authors_sklearn_sample(key, n: int, make, theta: float, mean, scale: float):
    """One batch of the authors' ``SklearnDistribution``: one more split of ``key`` gives a
    scikit-learn ``random_state`` below 1e5; the sample is rotated by ``theta`` in float32,
    scaled and shifted."""
    import jax

    key, _ = jax.random.split(key)
    random_state = int(jax.random.randint(key, [], minval=0, maxval=100_000))
    points = make(random_state).astype(np.float32)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
    return np.asarray(mean, np.float32) + np.float32(scale) * (points @ rot.T)


def halfmoon_scurve(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-moon (rotated pi/6, mean (0, -0.5), noise 0.05) -> S-curve (scale 0.6,
    mean (0.5, -2), rotated -pi/6, noise 0.05), drawn as the authors' notebooks draw it:
    the key of ``seed`` (:func:`hiref.seeds.jax_key`: ``jax.random.key(seed)`` below
    ``2**32``) split in four, the first key seeds the moon and the second the
    S-curve. Seed 0 is the authors' own draw at every n (the data of their sweep and of
    their half-moon W1 at n = 1024), with JAX's partitionable threefry, pinned here: the
    other setting gives other points.
    """
    import jax
    from sklearn import datasets as skd  # here: the workflow parses rules without sklearn

    from hiref.seeds import jax_key

    with jax.threefry_partitionable(True):
        key_x, key_y, _, _ = jax.random.split(jax_key(seed), 4)
        x = _authors_sklearn_sample(
            key_x, n, lambda rs: skd.make_moons(n_samples=(n, 0), noise=0.05, random_state=rs)[0],
            np.pi / 6, [0.0, -0.5], 1.0,
        )
        y = _authors_sklearn_sample(
            key_y, n,
            lambda rs: skd.make_s_curve(n_samples=n, noise=0.05, random_state=rs)[0][:, [2, 0]],
            -np.pi / 6, [0.5, -2.0], 0.6,
        )
    return x, y


def gaussian_mixtures(n: int, seed: int, *, dim: int, components: int = 8) -> tuple[
        np.ndarray, np.ndarray]:
    """Two unrelated mixtures of ``components`` unit Gaussians in ``dim`` dimensions.

    Centres are drawn with standard deviation 3 per coordinate independently for ``x`` and
    ``y``, so clusters are well separated and the optimal map must pair whole clusters (a
    global decision) and then match points within them (a local one): the regime where a
    hierarchy of low-rank couplings helps and axis-aligned space partitions struggle.
    """
    rng = np.random.default_rng(seed)

    def sample():
        centres = 3.0 * rng.standard_normal((components, dim))
        return centres[rng.integers(components, size=n)] + rng.standard_normal((n, dim))

    return sample().astype(np.float32), sample().astype(np.float32)


def shared_clusters(n: int, seed: int, *, dim: int, components: int = 10) -> tuple[
        np.ndarray, np.ndarray]:
    """Two samples of one population: ``components`` unit Gaussians in ``dim`` dimensions
    whose centres (standard deviation 1 per coordinate) overlap.

    Like two batches of cells in a PCA space, ``x`` and ``y`` follow the same law, so the exact
    cost is small and every mismatch counts. Space-partitioning matchings lose 20-50 % of the
    cost here (BSP-OT with 16 plans: 1.47 x exact at n = 2048, d = 30).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, dim))

    def sample():
        return centres[rng.integers(components, size=n)] + rng.standard_normal((n, dim))

    return sample().astype(np.float32), sample().astype(np.float32)


#: Name -> generator; the names are the dataset names of the workflow.
PAIRS = {
    "checkerboard": checkerboard,
    "moons_rings": moons_rings,
    "halfmoon_scurve": halfmoon_scurve,
    "gmm32": functools.partial(gaussian_mixtures, dim=32),
    "gmm128": functools.partial(gaussian_mixtures, dim=128),
    "clusters30": functools.partial(shared_clusters, dim=30),
}


#: Dimension of each pair's points.
DIMENSION = {"checkerboard": 2, "moons_rings": 2, "halfmoon_scurve": 2, "gmm32": 32, "gmm128": 128,
             "clusters30": 30}


def sample_pair(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the synthetic pair ``name`` with ``n`` points each."""
    if name not in PAIRS:
        raise ValueError(f"unknown synthetic pair {name!r}; known: {', '.join(PAIRS)}")
    return PAIRS[name](n, seed)
