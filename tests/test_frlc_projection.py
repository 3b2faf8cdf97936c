"""FRLC's projections evaluated on scalings (:func:`hiref.frlc._project_scalings`) give the
authors' log-domain Sinkhorn updates (:func:`hiref.frlc._project_log_domain`), whatever the
kernel, and keep padded rows and empty columns out; the authors' HiRef evaluates them so on
its last level only."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hiref import frlc


def kernel(rng, s, t, spread):
    """An FRLC-like log-kernel (s, t): a random plan's log times a step of ``spread``."""
    plan = np.log(rng.dirichlet(np.ones(t), s)) - spread * rng.random((s, t))
    return jnp.asarray(plan, jnp.float32)


CASES = {
    # (s, t, spread of the kernel's logs, relax, rounds)
    "latent, balanced": (64, 64, 30.0, 1.0, 100),
    "factor, relaxed": (500, 40, 30.0, 1e5 / (1e5 + 1 / 30), 40),
    "last level, full rank": (300, 300, 30.0, 0.999, 40),
    "spread far beyond float32's exponents": (200, 16, 400.0, 1.0, 100),
}


@pytest.mark.parametrize("case", CASES)
def test_scaling_rounds_give_the_log_domain_updates(case):
    s, t, spread, relax, iters = CASES[case]
    rng = np.random.default_rng(len(case))
    log_k = kernel(rng, s, t, spread)
    log_a = jnp.full(s, -np.log(s), jnp.float32)
    log_b = jnp.asarray(np.log(rng.dirichlet(np.ones(t))), jnp.float32)
    ours = np.exp(np.asarray(frlc._project_scalings(log_k, log_a, log_b, relax, iters), np.float64))
    reference = np.exp(np.asarray(frlc._project_log_domain(log_k, log_a, log_b, relax, iters),
                                  np.float64))
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-5 * reference.max())
    np.testing.assert_allclose(ours.sum(0), reference.sum(0), rtol=2e-4)
    np.testing.assert_allclose(ours.sum(1), reference.sum(1), rtol=2e-4)


def test_padded_rows_and_empty_columns_stay_out():
    """Padded rows as the log-domain updates; an empty column (an inner marginal of zero),
    which turned every log-domain entry into NaN, is left at zero and the rest projected as
    without it."""
    rng = np.random.default_rng(5)
    log_k = kernel(rng, 40, 8, 30.0)
    log_a = jnp.full(40, -np.log(36), jnp.float32).at[36:].set(-jnp.inf)
    log_b = jnp.full(8, -np.log(6), jnp.float32)
    empty = jnp.array([2, 5])
    kept = np.setdiff1d(np.arange(8), empty)
    ours = np.exp(np.asarray(frlc._project_scalings(
        log_k, log_a, log_b.at[empty].set(-jnp.inf), 0.99, 40)))
    reference = np.exp(np.asarray(frlc._project_log_domain(
        log_k[:, kept], log_a, log_b[kept], 0.99, 40)))
    assert np.all(ours[36:] == 0) and np.all(ours[:, empty] == 0)
    np.testing.assert_allclose(ours[:, kept], reference, rtol=0, atol=2e-5 * reference.max())


def test_blocks_batched_by_vmap_are_projected_alike():
    rng = np.random.default_rng(6)
    log_k = jnp.stack([kernel(rng, 50, 10, 30.0) for _ in range(3)])
    log_a = jnp.full((3, 50), -np.log(50), jnp.float32)
    log_b = jnp.full((3, 10), -np.log(10), jnp.float32)
    batched = jax.vmap(frlc._project_scalings, in_axes=(0, 0, 0, None, None))(
        log_k, log_a, log_b,
                                                                     1.0, 40)
    for k in range(3):  # the same up to the order of the products' sums
        alone = frlc._project_scalings(log_k[k], log_a[k], log_b[k], 1.0, 40)
        np.testing.assert_allclose(np.exp(batched[k]), np.exp(alone), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("iters", [0, 1, 3, 4, 5, 40, 100])
def test_absorptions_fall_between_the_rounds(iters):
    after = frlc._absorbed_after(iters)
    assert after == sorted(set(after)) and after[-1] == iters
    assert all(0 < k <= iters for k in after[:-1])


def test_the_authors_hiref_evaluates_the_last_level_only_on_scalings():
    """Above the last level the log-domain rounds run whatever the setting: the factored
    levels' splits follow their rounding (W1 6.96 against 6.21 on the MOSTA E10.5_E11.5
    stand-in with scalings there, docs/authors-hiref.md)."""
    from hiref.authors import AuthorsSettings, _frlc_config

    default = AuthorsSettings()
    assert _frlc_config(default, 767, last=True).projection == "scalings"
    assert _frlc_config(default, 12, last=False).projection == "log_domain"
    authors = AuthorsSettings(last_level_projection="log_domain")
    assert _frlc_config(authors, 767, last=True).projection == "log_domain"
    with pytest.raises(ValueError, match="last_level_projection"):
        AuthorsSettings(last_level_projection="scaling")
    with pytest.raises(ValueError, match="projection"):
        frlc.FRLCConfig(projection="fast")
