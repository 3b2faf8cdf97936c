"""Half-space splits: the levels of a solve in low dimension, each block halved on the host.

A level splits every block of ``s`` points per side into two co-clusters of
``h1 = ceil(s / 2)`` and ``h2 = floor(s / 2)`` points, ``X_1 -> Y_1`` and ``X_2 -> Y_2``: a
rank-2 split as in a low-rank level. Under the squared Euclidean cost, the transport cost of
such a co-clustering (each co-cluster coupled uniformly: the low-rank objective of a hard
rank-2 split) is ::

    mean |x|^2 + mean |y|^2 - (2 / s) (S(X_1) . S(Y_1) / h1 + S(X_2) . S(Y_2) / h2)

with ``S`` a co-cluster's coordinate sum, so it depends on the co-clusters only through their
sums. The candidates are half-spaces: ``X`` cut at its median along one of ``directions``
random unit directions, ``Y`` along one of the same directions or its opposite, chosen
independently (``2 * directions**2`` co-clusterings per block); each block takes the cheapest.
The two clouds need not be cut along the same direction, so a transport that rotates or bends
is followed. In two dimensions a few random directions cover the half-planes densely enough
that the cheapest of them is near the best half-plane split, and a level costs a few sorts of
the points instead of a low-rank solve (docs/solver.md, "Half-space splits").

Only the squared Euclidean cost decomposes so; other costs take low-rank splits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from hiref import costs, host
from hiref.config import MAX_SPLIT_DIRECTIONS

#: Largest point dimension in which ``split="auto"`` takes half-space splits. Random
#: directions cover the half-planes of 2-D well; in higher dimension they cover the
#: half-spaces ever more sparsely (30-D shared clusters: leaves 1.2 x exact, against 1.08 x
#: with low-rank splits), so low-rank splits are kept there.
AUTO_MAX_DIM = 2
#: The first ``TOP_LEVELS`` levels choose among ``TOP_DIRECTIONS_FACTOR`` times
#: ``split_directions`` directions: the coarsest cuts shape everything below them, and a
#: costly one is beyond what refinement repairs (2-D at n = 2^16, four seeds: checkerboard
#: 0.984 x BSP-OT-64 on average and 1.024 at worst with 16 directions everywhere, 0.964 and
#: 0.969 with 64 in the first three levels). Those levels are scored on samples
#: (``SCORE_SAMPLE``) at large n, so the extra directions cost little.
TOP_LEVELS = 3
TOP_DIRECTIONS_FACTOR = 4
#: Below the first levels, blocks of at most ``DEEP_BLOCK`` points score ``split_directions
#: // DEEP_DIRECTIONS_DIVISOR`` directions: their cuts barely change the result (2-D at
#: n = 2^16, eight seeds: the same costs within 0.0002 x BSP-OT-64's with 8 directions
#: there as with 16, 0.0011 worse with 2) and a level's work is its directions times n.
DEEP_BLOCK = 4096
DEEP_DIRECTIONS_DIVISOR = 2
#: Largest block whose cut is chosen on all its points: a larger block chooses on a random
#: sample of this many points per side. The candidates' costs are means over each half, which
#: a sample of 8192 estimates to about 1 % of the block's spread, while a level's work no
#: longer grows with the blocks above this size (docs/solver.md, "Half-space splits").
SCORE_SAMPLE = 8192
#: The first level (one block) leaves its best-scored cut for the one among the
#: ``TOP_CANDIDATES`` best-scored that keeps the most pairs of an exact matching of
#: ``PROBE_POINTS`` sampled points together when that cut separates at least
#: ``PROBE_MARGIN`` of the probe pairs fewer. The best-scored cut can split a cluster's mass
#: against the transport map, which no later level or sweep repairs (2-D checkerboard,
#: n = 4096, seed 1: with 512 probe points it separates 66 of them, another cut 4, and the
#: solve ends 1.037 x exact instead of 1.003); elsewhere the counts differ by noise (at most
#: 13 of 512 on uniform squares, half-moon and the checkerboard's other seeds, 2^12 to 2^20
#: points), and switching on such a difference cost uniform squares 0.5 % at 2^20. 256
#: probe points take every decision that 512 took on those cases (on that seed the
#: best-scored cut separates 34 of 256, another 8, and the solve ends 1.0013 x exact;
#: elsewhere the counts differ by at most 4 of 256), and SciPy matches them in 10 ms instead
#: of 65 (sampled points lie far apart, so their matching is slow for its size).
PROBE_POINTS = 256
TOP_CANDIDATES = 16
PROBE_MARGIN = 0.05
#: The first cut of a 2-D block of at least ``PULL_BACK_MIN`` points cuts Y along X's cut
#: pulled back through a coarse transport map, where that map bends (:func:`pulled_back`): the
#: map from ``2**PULL_BACK_LEVELS`` k-d cells of Y to as many of X, matched by their
#: centroids, unless an affine map explains all but ``AFFINE_RESIDUAL`` of its spread. The
#: image of a half-plane of X is a half-plane of Y only under an affine map; where the map
#: bends (half-moon to S-curve) every pair of half-planes misplaces mass at the cut's ends,
#: which no refinement sweep repairs (n = 4096, seeds 0-3, x exact: 1.0006-1.0015 after a
#: default solve, 1.0004-1.0012 after its first cut alone with exact halves), while the
#: pulled-back cut leaves 1.00002-1.00006 after the first cut. Where the map is affine
#: (uniform squares: residual 0.0001-0.003, against 0.24 on half-moon and 0.51 on the
#: checkerboard) Y's half-plane is the image already and the cells' noise would cost more
#: than it gains (docs/performance.md, "Where the 2-D excess at n = 4096 comes from").
PULL_BACK_LEVELS = 8
PULL_BACK_MIN = 4096
AFFINE_RESIDUAL = 0.02
#: The cells' tree is built on every k-th point of a side, k the largest that leaves at
#: least this many (the cells of larger clouds are then about, not exactly, equal): at
#: n = 2^16 and 2^20 the costs were those of a tree on 16384 points or lower (half-moon
#: 5.30941 against 5.30973, 5.29829 against 5.29835; checkerboard 21.1228 against 21.1231),
#: in 25 ms and 0.1 s less.
PULL_BACK_SAMPLE = 4096
#: Projections (directions x points) held at once by each thread: the directions of a level
#: are scored in chunks of at most this many entries, so memory stays linear in n.
PROJECTION_ENTRIES = costs.HOST_CHUNK


def resolve(split: str, dim: int, cost: str, schedule) -> str:
    """The split a solve takes: ``"halfspace"`` or ``"lowrank"``.

    ``"auto"`` takes half-space splits for squared Euclidean point clouds of at most
    ``AUTO_MAX_DIM`` dimensions without an explicit ``schedule`` (a schedule names the ranks
    of low-rank levels), and low-rank splits otherwise."""
    if split != "auto":
        return split
    return ("halfspace" if cost == "sqeuclidean" and dim <= AUTO_MAX_DIM and schedule is None
            else "lowrank")


def level_directions(directions: int, level: int, block: int) -> int:
    """Directions scored at ``level`` (0: the first), whose blocks hold at most ``block``
    points, of a solve with ``split_directions`` ``directions``: more in the first
    ``TOP_LEVELS`` (at most ``MAX_SPLIT_DIRECTIONS``), fewer in blocks of at most
    ``DEEP_BLOCK`` points below them (at least one)."""
    if level < TOP_LEVELS:
        return max(directions, min(directions * TOP_DIRECTIONS_FACTOR, MAX_SPLIT_DIRECTIONS))
    if block <= DEEP_BLOCK:
        return max(1, directions // DEEP_DIRECTIONS_DIVISOR)
    return directions


def halved_sizes(sizes: np.ndarray) -> np.ndarray:
    """Sizes (2b,) after halving blocks of ``sizes`` (b,): ``ceil(s/2)`` then ``floor(s/2)``."""
    return np.stack([sizes - sizes // 2, sizes // 2], axis=1).ravel()


def level_sizes(n: int, levels: int) -> list[np.ndarray]:
    """Block sizes entering each of ``levels`` halvings of ``n`` points, then the leaves'."""
    out = [np.array([n])]
    for _ in range(levels):
        out.append(halved_sizes(out[-1]))
    return out


def segments(sizes: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of each block of ``sizes`` (b,) in the order arrays, padded to ``width``
    (default: the largest size): ``idx`` (b, w) int64 (padding repeats the block's start) and
    ``valid`` (b, w) bool."""
    starts = np.cumsum(sizes) - sizes
    offsets = np.arange(int(sizes.max()) if width is None else width)
    valid = offsets[None, :] < sizes[:, None]
    return np.where(valid, starts[:, None] + offsets[None, :], starts[:, None]), valid


def lowest_first(position: np.ndarray, sizes: np.ndarray, keep: tuple[np.ndarray, ...]
                 ) -> np.ndarray:
    """Partially sorts each row of ``position`` (..., b, w), padded with ``inf`` past each
    block's size: returns the column order (..., b, w) in which, for every ``h`` of ``keep``
    ((b,) arrays of counts), a row's first ``h[b]`` columns are its ``h[b]`` lowest."""
    return np.argpartition(position, sorted({*_last_places(keep), position.shape[-1] - 1}),
                           axis=-1)


def _last_places(keep: tuple[np.ndarray, ...]) -> set[int]:
    """The positions ``h - 1`` that a partial sort must fix so that, for every count ``h``
    of ``keep``, a row's first ``h`` entries are its ``h`` lowest."""
    return {int(c) - 1 for h in keep for c in np.unique(h) if c > 0}


def regroup(order: np.ndarray, idx: np.ndarray, valid: np.ndarray, moved: np.ndarray) -> None:
    """Rewrites each block of ``order`` in place: its t-th slot takes the block's element at
    position ``moved[b, t]``."""
    order[idx[valid]] = order[np.take_along_axis(idx, moved, axis=1)[valid]]


def split_level(take: Callable[[int, np.ndarray], np.ndarray], order_x: np.ndarray,
                order_y: np.ndarray, sizes: np.ndarray, directions: int,
                rng: np.random.Generator, pool: host.Pool | None = None,
                probe: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Halves every block of the orders (n,) (consecutive segments of ``sizes`` (b,)).

    ``take(side, rows)`` reads the points (..., d) of x (``side`` 0) or y (1) at ``rows``
    (...) in the solve's normalised units; ``directions`` random unit directions are drawn
    from ``rng``. Blocks of more than ``SCORE_SAMPLE`` points choose their cut on a random
    sample of that many points per side (drawn from ``rng``, with replacement), and are cut
    whole. The projections are scored in the threads of ``pool`` (None: in this thread; the
    halvings do not depend on the threads). A level of one block with a ``probe``, rows
    ``(probe_x, partner)`` of an exact matching of sampled points, leaves its best-scored
    cut when that one cuts across the transport map (:func:`_agreeing`). A level of one
    block of at least ``PULL_BACK_MIN`` points cuts Y at its median along X's direction
    pulled back through a coarse transport map, where that map bends (:func:`pulled_back`).

    Returns:
      The new ``order_x``, ``order_y``, whose segments of :func:`halved_sizes` are the
      co-clusters (the first half of every block matched to the first), and the transport
      cost (b,) of each block's co-clustering, in normalised units.
    """
    pool = pool or host.Pool()
    idx, valid = segments(sizes)
    px = np.where(valid[..., None], take(0, order_x[idx]), 0).astype(np.float64)
    py = np.where(valid[..., None], take(1, order_y[idx]), 0).astype(np.float64)
    # The cost of a coupling does not change under a common shift; centring each block on its
    # joint mean keeps the sums' products from cancelling when blocks lie far from the origin.
    centre = (px.sum(1) + py.sum(1)) / (2 * sizes[:, None])
    px = np.where(valid[..., None], px - centre[:, None, :], 0)
    py = np.where(valid[..., None], py - centre[:, None, :], 0)
    unit = _directions(px.shape[-1], directions, rng)
    pairs = None
    if probe is not None and len(sizes) == 1:
        pairs = (take(0, probe[0]).astype(np.float64) - centre[0],
                 take(1, probe[1]).astype(np.float64) - centre[0])
    if px.shape[1] > SCORE_SAMPLE:
        picks = (rng.random((2, len(sizes), SCORE_SAMPLE)) * sizes[:, None]).astype(np.int64)
        sample = np.full(len(sizes), SCORE_SAMPLE)
        flip, kx, ky = _choose(np.take_along_axis(px, picks[0, ..., None], axis=1),
                               np.take_along_axis(py, picks[1, ..., None], axis=1),
                               np.ones((len(sizes), SCORE_SAMPLE), bool), sample, unit, pool,
                               pairs)
    else:
        flip, kx, ky = _choose(px, py, valid, sizes, unit, pool, pairs)
    along_x = np.einsum("bwd,bd->bw", px, unit[kx])
    along_y = np.einsum("bwd,bd->bw", py, unit[ky] * np.where(flip, -1.0, 1.0)[:, None])
    if len(sizes) == 1 and sizes[0] >= PULL_BACK_MIN:
        pulled = pulled_back(px[0], py[0], unit[kx[0]])
        if pulled is not None:
            along_y = pulled[None]
    h1 = sizes - sizes // 2

    def cut(points, order, along):
        """The block's order with its h1 lowest along ``along`` first, and the coordinate
        sums (b, d) of those h1 points."""
        moved = lowest_first(np.where(valid, along, np.inf), sizes, (h1,))
        order = order.copy()
        regroup(order, idx, valid, moved)
        first = np.arange(points.shape[1])[None, :] < h1[:, None]
        return order, np.einsum("bw,bwd->bd", first,
                                np.take_along_axis(points, moved[..., None], axis=1))

    (order_x, low_x), (order_y, low_y) = pool.map(cut, (px, py), (order_x, order_y),
                                                  (along_x, along_y))
    gain = _gain(low_x, low_y, px.sum(1), py.sum(1), h1, sizes // 2)
    squares = (px ** 2).sum((1, 2)) + (py ** 2).sum((1, 2))
    return order_x, order_y, (squares - 2 * gain) / sizes


def kd_tree(points: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """A k-d tree of ``levels`` levels on ``points`` (m, d), m >= 2**levels: every node
    halved (sizes as :func:`halved_sizes`) at the median of its widest axis. Returns each
    node's axis and threshold (2**levels - 1,), in heap order (node k's children are 2k + 1
    and 2k + 2); a point goes left when its coordinate is at most the threshold."""
    axes, thresholds = [], []
    order = np.arange(len(points))
    for sizes in level_sizes(len(points), levels)[:-1]:  # a level's nodes, left to right
        idx, valid = segments(sizes)
        block = points[order[idx]]  # (b, w, d)
        wide = (np.where(valid[..., None], block, -np.inf).max(1)
                - np.where(valid[..., None], block, np.inf).min(1))
        axis = wide.argmax(1)
        along = np.where(valid, np.take_along_axis(block, axis[:, None, None], 2)[..., 0],
                         np.inf)
        h1 = sizes - sizes // 2
        moved = lowest_first(along, sizes, (h1,))
        regroup(order, idx, valid, moved)
        thresholds.append(np.take_along_axis(along, moved, 1)[np.arange(len(sizes)), h1 - 1])
        axes.append(axis)
    return np.concatenate(axes), np.concatenate(thresholds)


def kd_cells(points: np.ndarray, axes: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The leaf cell (n,) int64, from 0 to ``len(axes)``, of every point of ``points`` (n, d)
    in the tree of :func:`kd_tree`."""
    node = np.zeros(len(points), np.int64)
    rows = np.arange(len(points))
    for _ in range(len(axes).bit_length()):  # the tree's levels: len(axes) = 2**levels - 1
        node = 2 * node + 1 + (points[rows, axes[node]] > thresholds[node])
    return node - len(axes)


def pulled_back(px: np.ndarray, py: np.ndarray, along: np.ndarray) -> np.ndarray | None:
    """Positions of Y's points ``py`` (n, d) along X's cut direction ``along`` (d,), pulled
    back through a coarse transport map (``px`` (n, d): X's points), or None where that map
    is nearly affine (see :data:`PULL_BACK_LEVELS`).

    X and Y are each cut into the ``2**PULL_BACK_LEVELS`` cells of a k-d tree
    (:func:`kd_tree`, built on every k-th point, at least ``PULL_BACK_SAMPLE`` of them), the
    cells matched by their centroids (SciPy's exact assignment of their squared distances),
    and each point of Y moved by its cell's displacement to the matched cell of X. X's h
    lowest points along ``along`` then face Y's h lowest pulled-back points: a cut of Y that
    bends with the map. None too where a cell is empty (many equal points), and in one
    dimension, where every transport map is monotone and a half-line's image a half-line."""
    if px.shape[-1] < 2:
        return None
    centres = []
    for points in (py, px):
        sample = points[::max(1, len(points) // PULL_BACK_SAMPLE)]  # >= 2**levels points
        label = kd_cells(points, *kd_tree(sample, PULL_BACK_LEVELS))
        count = np.bincount(label, minlength=2 ** PULL_BACK_LEVELS)
        if not count.all():  # many equal points: no cells to match
            return None
        centres.append((np.stack([np.bincount(label, points[:, k], len(count))
                                  for k in range(points.shape[1])], 1) / count[:, None], label))
    (centre_y, label_y), (centre_x, _) = centres
    cols = linear_sum_assignment(
        ((centre_y[:, None, :] - centre_x[None, :, :]) ** 2).sum(-1))[1]
    partner = centre_x[cols]  # (cells, d): the x cell facing each y cell
    design = np.concatenate([np.ones((len(centre_y), 1)), centre_y], axis=1)
    affine = design @ np.linalg.lstsq(design, partner, rcond=None)[0]
    spread = ((partner - partner.mean(0)) ** 2).sum()
    if ((partner - affine) ** 2).sum() <= AFFINE_RESIDUAL * spread:
        return None
    return (py + (partner - centre_y)[label_y]) @ along


def _gain(low_x, low_y, total_x, total_y, h1, h2):
    """The sum-product term ``S(X_1).S(Y_1)/h1 + S(X_2).S(Y_2)/h2`` of a co-clustering's
    cost, from the first co-clusters' sums ``low_x``, ``low_y`` and the blocks' ``total_x``,
    ``total_y`` (each (b, d)), for blocks whose halves hold ``h1``, ``h2`` (b,) points."""
    return (np.einsum("bd,bd->b", low_x, low_y) / h1
            + np.einsum("bd,bd->b", total_x - low_x, total_y - low_y) / np.maximum(h2, 1))


def _choose(px, py, valid, sizes, unit, pool, pairs=None):
    """The cheapest of the candidate co-clusterings of each block of centred points ``px``,
    ``py`` (b, w, d) (``valid`` (b, w), ``sizes`` (b,)) along the directions ``unit`` (k, d):
    ``(flip, kx, ky)``, each (b,): X cut along ``unit[kx]``, Y along ``unit[ky]``, negated
    where ``flip``. With ``pairs`` (one block only: its probe pairs' centred points), the
    choice among the best-scored cuts is :func:`_agreeing`'s."""
    h1, h2 = sizes - sizes // 2, sizes // 2
    low_x, low_y, low_y2 = _low_sums(px, py, valid, unit, h1, h2, pool)
    total_x, total_y = px.sum(1)[:, None, :], py.sum(1)[:, None, :]  # (b, 1, d)
    first, second = h1[:, None, None], np.maximum(h2, 1)[:, None, None]

    def gain(sx1, sy1, sy2):
        """:func:`_gain` for X cut along each direction kx and Y's co-clusters of sums
        ``sy1``, ``sy2`` along each ky: (b, kx, ky)."""
        return (np.einsum("bid,bjd->bij", sx1, sy1) / first
                + np.einsum("bid,bjd->bij", total_x - sx1, sy2) / second)

    # Y's first co-cluster along -theta holds its h1 highest along theta.
    scores = np.stack([gain(low_x, low_y, total_y - low_y),
                       gain(low_x, total_y - low_y2, low_y2)], axis=1)  # (b, 2, kx, ky)
    best = scores.reshape(len(sizes), -1).argmax(1)
    if pairs is not None:
        best = np.array([_agreeing(scores[0], px[0], py[0], int(sizes[0]), unit, pairs)])
    return np.unravel_index(best, (2, len(unit), len(unit)))


def _agreeing(scores, px, py, size, unit, pairs) -> int:
    """Index into ``scores.ravel()`` (scores (2, k, k) of one block's cuts, as in
    :func:`_choose`) of the cut to make: the best-scored, unless another of the
    ``TOP_CANDIDATES`` best-scored separates at least ``PROBE_MARGIN`` of the probe pairs
    fewer (then the one separating fewest; ties go to the better score). ``pairs``: the
    probe pairs' x and y points, each (p, d), centred as the block's ``px``, ``py`` (w, d),
    whose first ``size`` rows are its points. A probe point is in its side's first half when
    its projection is at most that of the block's ``ceil(size / 2)``-th lowest point."""
    ranked = np.argsort(-scores.ravel(), kind="stable")[:TOP_CANDIDATES]
    flip, kx, ky = np.unravel_index(ranked, scores.shape)
    along_x = unit[kx]  # (K, d)
    along_y = unit[ky] * np.where(flip, -1.0, 1.0)[:, None]
    h = size - size // 2

    def first_half(points, probe_points, directions):
        projected = points[:size] @ directions.T  # (size, K)
        threshold = np.partition(projected, h - 1, axis=0)[h - 1]
        return probe_points @ directions.T <= threshold  # (p, K)

    separated = (first_half(px, pairs[0], along_x) != first_half(py, pairs[1], along_y)).sum(0)
    fewest = int(np.argmin(separated))
    if separated[0] - separated[fewest] >= PROBE_MARGIN * len(pairs[0]):
        return int(ranked[fewest])
    return int(ranked[0])


def _directions(dim: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` unit directions (count, dim): in 2-D evenly spaced angles over a half-turn
    from a random offset (a direction and its opposite cut alike, and Y's opposite is scored
    apart), else Gaussian directions."""
    if dim == 2:
        angles = np.pi * (rng.random() + np.arange(count)) / count
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    unit = rng.standard_normal((count, dim))
    return unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), costs.DIVISOR_FLOOR)


def _low_sums(px, py, valid, unit, h1, h2, pool):
    """Coordinate sums of the lowest ``h1`` points of x, and of the lowest ``h1`` and ``h2``
    of y, along each direction of ``unit`` (k, d): three (b, k, d) arrays. The directions
    are projected a chunk at a time (at most ``PROJECTION_ENTRIES`` each, and at least one
    chunk per thread), each chunk of each side a task of ``pool``.

    Each sum is read off the ``h``-th lowest value ``t`` of the row (a partial sort of the
    values, not of their positions): the points below ``t`` and, where several points
    project exactly onto ``t``, an even share of each of those (they tie for the last
    places), so the sum is that of the lowest ``h`` up to how ties are broken."""
    count, (blocks, width, dim) = unit.shape[0], px.shape
    chunk = max(1, min(-(-count // pool.threads),
                       PROJECTION_ENTRIES // max(1, blocks * width)))
    even = np.array_equal(h1, h2)  # every block even: y's two counts are one
    out_x, out_y1 = np.empty((blocks, count, dim)), np.empty((blocks, count, dim))
    out_y2 = out_y1 if even else np.empty((blocks, count, dim))
    sides = ((px, (h1,), (out_x,)), (py, (h1,) if even else (h1, h2), (out_y1, out_y2)))

    def task(args):
        (points, wanted, targets), begin = args
        part = unit[begin:begin + chunk]
        along = np.where(valid, np.tensordot(part, points, axes=([1], [2])), np.inf)
        kth = sorted(_last_places(wanted))
        ordered = np.partition(along, kth, axis=-1) if kth else along
        for h, target in zip(wanted, targets):
            last = np.take_along_axis(
                ordered, np.maximum(h - 1, 0)[None, :, None].repeat(len(part), 0), axis=-1)
            below, tied = along < last, along == last
            share = ((h[None, :] - below.sum(-1)) / np.maximum(tied.sum(-1), 1))[..., None]
            weight = below + tied * share  # (k, b, w)
            target[:, begin:begin + chunk] = np.matmul(weight.transpose(1, 0, 2), points)

    list(pool.map(task, [(side, begin) for side in sides for begin in range(0, count, chunk)]))
    return out_x, out_y1, out_y2
