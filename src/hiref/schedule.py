"""Rank schedules: how many co-clusters each level of the hierarchy splits a block into.

The cost of a schedule ``(r_1, ..., r_k)`` is the number of low-rank sub-problems it solves,
``r_1 + r_1 r_2 + ... + r_1 ... r_k``; the authors choose it by dynamic programming over the
divisors of ``n``. That needs ``n`` to factor into small ranks, which a prime ``n`` never does.
:func:`plan_levels` extends it to any ``n``: it factors the smallest block count
``P >= n / max_leaf`` that does factor, and the blocks then differ in size by at most one.
"""

from __future__ import annotations

import functools
import math


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


@functools.cache
def _best_factorisation(p: int, max_rank: int, levels: int) -> tuple[int, tuple[int, ...]] | None:
    """Cheapest ``(r_1, ..., r_k)`` with product ``p``, ``2 <= r <= max_rank``, ``k <= levels``.

    Returns ``(cost, ranks)`` where cost is ``r_1 + r_1 r_2 + ... + p``, or None if impossible.
    """
    if p == 1:
        return 0, ()
    if levels == 0:
        return None
    best = None
    for r in _divisors(p):
        if r < 2 or r > max_rank:
            continue
        rest = _best_factorisation(p // r, max_rank, levels - 1)
        if rest is None:
            continue
        # Every deeper prefix product is multiplied by r, the first rank.
        cost = r + r * rest[0]
        if best is None or cost < best[0]:
            best = (cost, (r, *rest[1]))
    return best


def rank_schedule(n: int, max_rank: int = 16, max_q: int = 1024, depth: int = 6) -> list[int]:
    """The authors' rank schedule for ``n`` points: ``[r_1, ..., r_k, Q]`` with product ``n``.

    ``Q`` is the largest divisor of ``n`` below ``max_q``; the ranks above it minimise the
    number of sub-problems with every rank at most ``max_rank`` and at most ``depth`` entries
    in all. Raises ``ValueError`` when ``n`` does not factor so (a prime ``n``, for example);
    :func:`plan_levels` handles every ``n``.

    >>> rank_schedule(8192)
    [16, 512]
    """
    _check_schedule_args(n, max_rank, max_q, depth)
    q = max(d for d in _divisors(n) if d < max_q)
    found = _best_factorisation(n // q, max_rank, depth - 1)
    if found is None:
        raise ValueError(
            f"n = {n} does not factor into at most {depth - 1} ranks <= {max_rank} above a leaf "
            f"size < {max_q} (leaf {q}, remaining factor {n // q}). Raise max_rank or depth, or "
            "use hiref.plan_levels, which handles any n with blocks differing in size by one."
        )
    return [*found[1], q]


def plan_levels(n: int, max_rank: int = 16, max_leaf: int = 128, depth: int = 6) -> list[int]:
    """A schedule for any ``n``: ``[r_1, ..., r_k, leaf]`` with ``prod(r) * leaf >= n``.

    When ``n`` factors exactly (the authors' case, with ``max_q = max_leaf + 1``) the result is
    :func:`rank_schedule`'s and every block has the same size. Otherwise the number of leaf
    blocks ``P = prod(r)`` is the smallest integer at least ``n / max_leaf`` that factors into
    at most ``depth - 1`` ranks ``<= max_rank``; blocks are then split with capacities that
    differ by at most one point, so the leaves hold ``floor(n / P)`` or ``ceil(n / P)`` points.
    """
    _check_schedule_args(n, max_rank, max_leaf + 1, depth)
    if n <= max_leaf:
        return [n]
    try:
        return rank_schedule(n, max_rank, max_leaf + 1, depth)
    except ValueError:
        pass
    smallest = -(-n // max_leaf)
    reachable = _products_from(smallest, max_rank, depth - 1, limit=n)
    if not reachable:
        raise ValueError(
            f"no schedule of at most {depth - 1} ranks <= {max_rank} brings {n} points down to "
            f"leaves of <= {max_leaf}; raise depth, max_rank or max_leaf."
        )
    p = min(reachable)
    return [*_best_factorisation(p, max_rank, depth - 1)[1], -(-n // p)]


def _products_from(low: int, max_rank: int, levels: int, limit: int) -> set[int]:
    """Products of at most ``levels`` ranks in ``[2, max_rank]`` lying in ``[low, limit]``,
    searched only up to the first power of ``max_rank`` that reaches ``low``."""
    upper = next((max_rank**k for k in range(levels + 1) if max_rank**k >= low), None)
    if upper is None:
        return set()
    upper = min(upper, limit)
    products, frontier = {1}, {1}
    for _ in range(levels):
        frontier = {p * r for p in frontier for r in range(2, max_rank + 1) if p * r <= upper}
        if not frontier:
            break
        products |= frontier
    return {p for p in products if p >= low}


def _check_schedule_args(n: int, max_rank: int, max_q: int, depth: int) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if max_rank < 2:
        raise ValueError(f"max_rank must be at least 2 (a split into two), got {max_rank}.")
    if max_q < 2:
        raise ValueError(f"the leaf size bound must be at least 1, got {max_q - 1}.")
    if depth < 2:
        raise ValueError(f"depth must be at least 2 (one split and the leaves), got {depth}.")


def solver_schedule(n: int, max_rank: int, max_leaf: int, depth: int,
                    schedule=None) -> list[int]:
    """The schedule ``hiref.solve`` runs on ``n`` points: ``schedule``'s ranks with the leaf
    size they leave, or :func:`plan_levels`'s. Raises ``ValueError`` naming what to change
    when no schedule fits (the workflow calls it when it is parsed)."""
    if schedule is None:
        return plan_levels(n, max_rank, max_leaf, depth)
    ranks = [int(r) for r in schedule]
    blocks = math.prod(ranks)
    if blocks > n:
        raise ValueError(
            f"HiRefConfig.schedule {ranks} makes {blocks} blocks, more than the {n} points; "
            "use smaller ranks or schedule=None."
        )
    return [*ranks, -(-n // blocks)]
