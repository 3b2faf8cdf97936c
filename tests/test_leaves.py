"""The host's exact assignment of a level's blocks: every block optimal, whatever the mix of
block sizes and however the blocks of one size are batched."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from hiref import costs, leaves

#: Sizes off every padding and batch boundary: single points, tiny blocks, runs of one
#: size broken by others, and one block above the potentials' threshold.
SIZES = [1, 3, 64, 64, 64, 100, 100, 64, 1, 1100, 64, 7]


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("dim", [2, 30])
# The default host chunk batches whole runs of a size; the small one two blocks of 64.
@pytest.mark.parametrize("host_chunk", [costs.HOST_CHUNK,
                                        leaves.BATCH_CHUNK_SHARE * 64 * 64 * 2 + 1])
def test_every_block_is_solved_exactly_however_blocks_are_batched(monkeypatch, cost, dim,
                                                                  host_chunk):
    monkeypatch.setattr(costs, "HOST_CHUNK", host_chunk)
    rng = np.random.default_rng(dim)
    offset, sizes = 5, np.array(SIZES)
    n = offset + sizes.sum() + 4  # positions before and after the blocks
    x, y = rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + 0.5
    order_x, order_y = rng.permutation(n), rng.permutation(n)
    norm = costs.normalise(x, y, cost, None)
    result = leaves.solve_host(norm, order_x, order_y, sizes, cost=cost, threads=2,
                               offset=offset)

    outside = np.r_[0:offset, offset + sizes.sum():n]
    np.testing.assert_array_equal(result[outside], order_y[outside])
    for start, size in zip(offset + np.cumsum(sizes) - sizes, sizes):
        block = slice(start, start + size)
        assert sorted(result[block]) == sorted(order_y[block])
        exact = costs.difference_costs(x[order_x[block]], y[order_y[block]], cost)
        best = exact[linear_sum_assignment(exact)].sum()
        found = costs.difference_costs(x[order_x[block]], y[result[block]], cost)
        assert np.trace(found) <= best * (1 + 1e-12) + 1e-12
