"""Exact assignment inside every block of a level (the leaves, and the refinement groups).

Blocks are contiguous segments of two index orders, ``order_x`` and ``order_y``; solving them
rearranges ``order_y`` inside each segment so that ``order_x[t]`` is matched to
``order_y[t]``. Two interchangeable paths:

- ``"scipy"``: on the host, SciPy's ``linear_sum_assignment`` (which releases the GIL) in a
  pool of threads, each thread building the dense float64 costs of its consecutive blocks of
  one size together (within a share of ``costs.HOST_CHUNK``), then solving them one by one. On a
  CPU this is 3-5 times faster per block than the batched JAX solver and compiles nothing.
- ``"jax"``: on the device, the batched shortest-augmenting-path solver of
  :mod:`hiref.assignment`, ``jax.lax.map`` over memory-bounded batches of blocks; it keeps
  the leaves on an accelerator.

``"auto"`` picks ``"scipy"`` when JAX's default backend is the CPU and ``"jax"`` otherwise.

Blocks of at least :data:`hiref.leaf_potentials.MIN_BLOCK` points are solved on their costs
less near-optimal potentials (:mod:`hiref.leaf_potentials`: column potentials on the host,
row and column potentials on the device), which leaves the optimal assignments unchanged and
makes the shortest augmenting paths short.

Cost of one block of ``s`` points in ``d`` dimensions (exact, worst case cubic in ``s``):
memory ``8 s^2 + 24 s d`` bytes per thread on the host (its float64 costs, each side's points
read and made float64; ``20 s^2`` with potentials; smaller blocks are costed together,
within about ``costs.HOST_CHUNK`` entries in all, see :data:`BATCH_CHUNK_SHARE`),
:func:`device_block_bytes` per block of a device batch (the batch bounded by
``leaf_memory_mb``); time measured on this project's 2-core CPU, SciPy, 2-D blocks: 2 ms at
128, 60 ms at 512, 0.1 s at 1024 (0.4 s without potentials), 0.45-0.7 s at 2048 (3-6 s
without).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from hiref import assignment, costs, host, leaf_potentials

#: The host path cuts the blocks into this many tasks per thread, so that threads finish
#: together although blocks differ in difficulty.
TASKS_PER_THREAD = 4
#: The host path reads and costs consecutive blocks of one size together, their costs and
#: each side's points within ``costs.HOST_CHUNK // BATCH_CHUNK_SHARE`` entries (8 MB of
#: float64 each by default) per thread, so that a batch and its copies stay within the
#: host's chunk: one block at a time, NumPy's call overheads took a third of a small block's
#: time (2-D blocks of 64 points: about 0.15 ms of 0.5).
BATCH_CHUNK_SHARE = 4


def resolve(name: str) -> str:
    """The leaf solver ``name`` ("auto", "scipy" or "jax") resolves to on this backend."""
    if name != "auto":
        return name
    return "scipy" if jax.default_backend() == "cpu" else "jax"


def segments(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of every block in the order arrays, and its size (both (b,) int64)."""
    sizes = np.asarray(sizes, np.int64)
    return np.cumsum(sizes) - sizes, sizes


def device_block_bytes(size: int, dim: int, itemsize: int) -> int:
    """Bytes of one block in a device batch: the assignment solver's ``(size, size)`` arrays
    (four of ``itemsize``; three more for the potentials of blocks of at least
    ``MIN_BLOCK``) and each side's points read and centred."""
    squares = 4 + (3 if size >= leaf_potentials.MIN_BLOCK else 0)
    return squares * itemsize * size * size + 2 * 2 * itemsize * size * dim


def solve_host(points: costs.Normalised, order_x: np.ndarray, order_y: np.ndarray,
               sizes: np.ndarray, *, cost: str, threads: int, offset: int = 0) -> np.ndarray:
    """Exact assignment of every block with SciPy on the host.

    Args:
      points: the normalised clouds (each block's points are read in float64 with
        :meth:`hiref.costs.Normalised.take_exact` and solved as in :class:`_PointBlocks`), or their
        (n, n) float64 cost ``points.matrix``; order_x, order_y: (n,) int orders whose
        consecutive segments of lengths ``sizes``, from position ``offset``, are the blocks.
      threads: worker threads, each holding one batch of blocks of one size at a time (see
        :data:`BATCH_CHUNK_SHARE`), or one block when a block alone exceeds it.
    Returns:
      The new ``order_y`` (n,) int32 (positions outside the blocks unchanged).
    """
    order_x = np.asarray(order_x)
    order_y = np.asarray(order_y)
    result = order_y.astype(np.int32, copy=True)
    starts, lengths = segments(sizes)
    starts += offset
    per_task = max(1, -(-len(starts) // (TASKS_PER_THREAD * threads)))
    tasks = [(starts[k:k + per_task], lengths[k:k + per_task])
             for k in range(0, len(starts), per_task)]
    dim = points.x.shape[-1]

    def run(task):
        solved = _PointBlocks(result, cost)
        for start, size, count in _equal_runs(*task):
            per_batch = max(1, costs.HOST_CHUNK // (BATCH_CHUNK_SHARE * size * max(size, dim)))
            for first in range(0, count, per_batch):
                blocks = np.arange(first, min(first + per_batch, count))
                index = start + size * blocks[:, None] + np.arange(size)
                bx, by = order_x[index], order_y[index]
                if points.matrix is None:
                    solved.add(index, by, points.take_exact(0, bx), points.take_exact(1, by))
                    continue
                for rows, cols, block in zip(index, by, bx):
                    result[rows] = cols[assign(points.matrix[block[:, None], cols[None, :]])[0]]
        solved.flush()

    with host.pool(min(threads, len(tasks))) as pool:
        list(pool.map(run, tasks))
    return result


def assign(block: np.ndarray) -> tuple[np.ndarray, float]:
    """SciPy's exact assignment of ``block`` (s, s) float64, overwritten: the columns (s,)
    matched to its rows, and the largest magnitude of the entries SciPy solved when column
    potentials were subtracted first (their rounding, one more per entry, is then at most
    float64's epsilon times it; 0.0 when none were)."""
    potentials = leaf_potentials.column_potentials(block)
    if potentials is None:
        return linear_sum_assignment(block)[1], 0.0
    block -= potentials[None, :]
    return linear_sum_assignment(block)[1], float(np.abs(block).max())


class _PointBlocks:
    """Blocks of points solved by SciPy on the fast cost form
    (:func:`hiref.costs.assignment_costs`) as they come, then checked together for
    cancellation (:func:`hiref.costs.fast_form_cancelled`, a few vectorised passes per group
    of blocks of about ``HOST_CHUNK`` entries, instead of a dozen small ones per block): a
    block whose fast form may have cancelled (clusters far apart relative to their spread)
    is re-solved on the costs from coordinate differences. Each block's ``result`` (the
    matched rows of ``by``) is written as soon as it is final."""

    def __init__(self, result: np.ndarray, cost: str):
        self.result, self.cost, self.pending, self.entries = result, cost, [], 0

    def add(self, index: np.ndarray, by: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """Solves the ``k`` blocks at positions ``index`` (k, s) of float64 points ``x``, ``y``
        (k, s, d), ``by`` (k, s) the rows of y in them."""
        for k, block in enumerate(costs.assignment_costs(x, y, self.cost)):
            low = float(block.min()) if self.cost != "sqeuclidean" else 0.0
            cols, shifted = assign(block)
            self.result[index[k]] = by[k][cols]
            self.pending.append((index[k], by[k], x[k], y[k], cols, low, shifted))
        self.entries += x.size
        if self.entries >= costs.HOST_CHUNK:
            self.flush()

    def flush(self) -> None:
        """Checks the pending blocks and re-solves those whose fast form may have cancelled."""
        if not self.pending:
            return
        index, by, x, y, cols, low, shifted = zip(*self.pending)
        for k in np.flatnonzero(costs.fast_form_cancelled(x, y, cols, low, self.cost,
                                                          shifted)):
            exact = costs.difference_costs(x[k], y[k], self.cost)
            self.result[index[k]] = by[k][linear_sum_assignment(exact)[1]]
        self.pending, self.entries = [], 0


def _equal_runs(starts: np.ndarray, lengths: np.ndarray):
    """Yields ``(start, size, count)`` for every run of consecutive blocks of one nonzero
    size (the blocks are contiguous: each starts where the one before it ends)."""
    breaks = np.flatnonzero(np.diff(lengths)) + 1
    for run in np.split(np.arange(len(lengths)), breaks):
        if len(run) and lengths[run[0]] > 0:
            yield int(starts[run[0]]), int(lengths[run[0]]), len(run)


def device_batch(size: int, dim: int, blocks: int, memory_bytes: int, itemsize: int) -> int:
    """Blocks of ``size`` points in ``dim`` dimensions per batch of the device path within
    ``memory_bytes`` (see :func:`device_block_bytes`)."""
    per_block = max(1, device_block_bytes(size, dim, itemsize))
    return int(max(1, min(blocks, memory_bytes // per_block)))


@functools.partial(jax.jit, static_argnames=("cost", "batch"))
def solve_device(clouds, matrix, order_x, order_y, idx, mask, *, cost, batch):
    """Exact assignment inside every block on the device; returns ``order_y`` rearranged so
    that ``order_x[t]`` is matched to ``order_y[t]``.

    Args:
      clouds: the points (:class:`hiref.costs.Clouds`); matrix: (n, n) cost or None;
      order_x, order_y: (n,) int32; idx, mask: (b, s) padded block positions (see the
      solver's ``_segment_arrays``); batch: blocks solved at once (static; see
      :func:`device_batch`).
    """
    gx, gy = order_x[idx], order_y[idx]

    def block_cost(args):
        bx, by, valid = args
        if matrix is None:
            c = costs.pairwise(*costs.centre_block(clouds.read(0, bx), clouds.read(1, by),
                                                   valid), cost)
        else:
            c = matrix[bx[:, None], by[None, :]]
        if idx.shape[1] >= leaf_potentials.MIN_BLOCK:  # static: the blocks' padded width
            c = leaf_potentials.reduced_cost(c, valid)
        return assignment.assign(assignment.padded_cost(c, valid))

    cols = jax.lax.map(block_cost, (gx, gy, mask), batch_size=batch)
    source = jnp.take_along_axis(gy, cols, axis=1)
    return order_y.at[jnp.where(mask, idx, order_y.shape[0])].set(source, mode="drop")
