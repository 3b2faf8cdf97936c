"""The batched exact assignment solver and the capacity-exact rounding."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from hiref.assignment import assign_batched
from hiref.lowrank import round_to_capacity


def test_matches_scipy_on_random_and_tied_costs():
    rng = np.random.default_rng(0)
    real = rng.uniform(size=(40, 12, 12)).astype(np.float32)
    ties = rng.integers(0, 3, size=(40, 12, 12)).astype(np.float32)
    for costs in (real, ties):
        cols = np.asarray(assign_batched(jnp.asarray(costs)))
        for c, col in zip(costs, cols):
            assert np.array_equal(np.sort(col), np.arange(12))
            rows, best = linear_sum_assignment(c)
            assert c[np.arange(12), col].sum() <= c[rows, best].sum() + 1e-5


#: Rows of every rounding example: the most valid rows (5 clusters of 6) and up to 3 pads.
ROUNDING_ROWS = 33
#: Compiled once per number of clusters (2 to 5): every example has ROUNDING_ROWS rows.
_round_compiled = jax.jit(round_to_capacity)


@settings(max_examples=25, deadline=None)
@given(
    caps=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_rounding_is_capacity_exact(caps, seed):
    # The rows beyond the valid ones (3 to 31 of them) are padding.
    valid = sum(caps)
    score = np.random.default_rng(seed).normal(size=(ROUNDING_ROWS, len(caps)))
    mask = np.arange(ROUNDING_ROWS) < valid
    label = np.asarray(_round_compiled(jnp.asarray(score, jnp.float32), jnp.asarray(mask),
                                       jnp.asarray(caps, jnp.int32)))
    assert np.array_equal(np.bincount(label[mask], minlength=len(caps)), caps)
    assert np.all(label[~mask] == len(caps))


def test_rounding_keeps_clear_preferences():
    score = jnp.asarray([[5.0, 0.0], [4.0, 0.0], [0.0, 3.0], [3.0, 2.9]])
    label = round_to_capacity(score, jnp.ones(4, bool), jnp.asarray([2, 2], jnp.int32))
    # Row 3 prefers cluster 0, but rows 0 and 1 prefer it more strongly.
    assert list(np.asarray(label)) == [0, 0, 1, 1]
