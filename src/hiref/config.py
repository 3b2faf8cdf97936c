"""Public data types: the solver's configuration and its result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

COSTS = ("sqeuclidean", "euclidean")


@dataclass(frozen=True)
class HiRefConfig:
    """Settings of Hierarchical Refinement.

    Attributes:
      max_rank: largest number of co-clusters a block is split into at one level.
      max_leaf: largest block size solved exactly at the last level (the authors' ``max_Q``).
        Blocks of at most this many points are matched by an exact, batched assignment solver.
      depth: largest number of levels, the exact leaf level included (the authors'
        ``hierarchy_depth``).
      schedule: explicit ranks ``(r_1, ..., r_k)`` for the low-rank levels; overrides the
        dynamic programme. The leaf size is then ``ceil(n / prod(r))``.
      outer_iters: mirror-descent iterations of the low-rank solver at each level.
      inner_iters: log-domain Sinkhorn projections per mirror-descent step (warm-started).
      gamma: normalised mirror-descent step size (the step is ``gamma / max|gradient|``).
      top_restarts: candidate splits of the first (coarsest) level, each run from a different
        k-means++ start for 5 mirror-descent steps; the one whose co-clusters hold the most
        pairs of an exact matching of 512 sampled x and y points runs on to the end. Errors
        of the first split are the costliest (no later level or refinement undoes them), and
        the split with the lowest low-rank objective can cut across the transport map.
      cost_rank: rank of the sampled factorisation of the Euclidean cost on large blocks.
      refine_sweeps: at most this many refinement sweeps after the leaves (see
        ``refine_tol``): the matched pairs ``(x_i, y_perm(i))`` are regrouped into groups of
        at most ``max_leaf`` by halving along principal axes from a random start, and every
        group is re-solved exactly. Each sweep's groups straddle the previous borders; a sweep
        can only lower the cost and costs about one leaf level.
      refine_tol: refinement stops after a sweep that lowers the matching's cost by less than
        this fraction (0: always run ``refine_sweeps`` sweeps).
      leaf_batch: how many leaf blocks are solved at once (bounds memory, not results).
      max_expansion: largest ``lcm(n, m) / max(n, m)`` accepted when ``|X| != |Y|``.
    """

    max_rank: int = 16
    max_leaf: int = 128
    depth: int = 6
    schedule: tuple[int, ...] | None = None
    outer_iters: int = 30
    inner_iters: int = 12
    gamma: float = 5.0
    top_restarts: int = 8
    cost_rank: int = 32
    refine_sweeps: int = 6
    refine_tol: float = 1e-4
    leaf_batch: int = 2048
    max_expansion: int = 8

    def replace(self, **changes) -> HiRefConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        if out["schedule"] is not None:
            out["schedule"] = list(out["schedule"])
        return out


@dataclass
class Alignment:
    """Result of :func:`hiref.solve`.

    Attributes:
      perm: (n,) int64, ``perm[i]`` is the index in ``y`` matched to ``x[i]`` (``n == m``),
        or ``None`` when ``n != m``.
      coupling: ``(rows, cols, weights)`` of the sparse coupling; for ``n == m`` this is the
        permutation with weights ``1/n``. Row marginals are ``1/n``, column marginals ``1/m``.
      cost_p1: mean Euclidean cost of the coupling, sum_ij P_ij |x_i - y_j|.
      cost_p2: mean squared Euclidean cost, sum_ij P_ij |x_i - y_j|^2.
      schedule: ranks of the low-rank levels followed by the leaf block size.
      level_seconds: wall seconds of each level (low-rank levels, leaf level, refinement).
      seconds: total solver seconds (excludes cost evaluation).
      config: the :class:`HiRefConfig` used; ``cost`` the cost name.
    """

    perm: np.ndarray | None
    coupling: tuple[np.ndarray, np.ndarray, np.ndarray]
    cost_p1: float
    cost_p2: float
    schedule: list[int]
    level_seconds: list[float]
    seconds: float
    config: HiRefConfig
    cost: str
    extra: dict = field(default_factory=dict)
