"""Public data types: the solver's configuration and its result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from hiref.settings import setting

COSTS = ("sqeuclidean", "euclidean")
LEAF_SOLVERS = ("auto", "scipy", "jax")
SPLITS = ("auto", "lowrank", "halfspace")
#: Largest ``split_directions``: a level holds the sums of every direction's halves for every
#: block, (blocks x directions x d) numbers, and scores directions x directions pairs.
MAX_SPLIT_DIRECTIONS = 256
#: Largest ``depth``: every low-rank level splits a block into at least two, and the solver
#: indexes points with int32 (n < 2**31), so no schedule has more than 31 ranks and a leaf.
MAX_DEPTH = 32
#: Largest ``max_expansion``: ``|X| != |Y|`` is solved on the points repeated up to this many
#: times (copies: memory and work grow with it, and leaves hold this many times ``max_leaf``
#: points); beyond, subsampling the larger set (the paper's way) is the practical choice.
MAX_EXPANSION = 64
#: The largest leaf of each kind of split when ``max_leaf`` is None (refinement groups:
#: :func:`hiref.refine.group_limit`).
#: Half-space levels are cheap and exact, so their leaves can be small: in 2-D at n = 2^20
#: leaves of 64 give the matching of leaves of 128 (equal to six digits) in three quarters of
#: the time, and 0.02 % above it at n = 4096 (docs/performance.md). Low-rank levels cost a
#: solve each and round their splits, so their leaves stay larger: in 64-D digits leaves of
#: 128 keep the matching within 2 % of exact.
DEFAULT_MAX_LEAF = {"halfspace": 64, "lowrank": 128}
#: Largest number of entries (64 MiB in float32) of one block of a cost or a plan that a
#: program builds at once: FRLC's cost tiles, the row blocks in which plans are scored, the
#: batches the mini-batch solver runs together. It bounds memory; the block's results are
#: those of the whole. Here, beside ``COSTS``, because the registry reads it without JAX.
BLOCK_ENTRIES = 1 << 24


@dataclass(frozen=True)
class HiRefConfig:
    """Settings of Hierarchical Refinement.

    Attributes:
      max_rank: largest number of co-clusters a block is split into at one level.
      max_leaf: largest block size solved exactly at the last level, and the size of the
        refinement groups (twice that after low-rank levels, up to 512 points:
        :func:`hiref.refine.group_limit`); ``None`` (the default): ``DEFAULT_MAX_LEAF`` of the
        split that runs (64 with half-space splits, 128 with low-rank ones; see
        :meth:`leaf_limit`). The
        authors' ``max_Q`` is an exclusive bound on their last rank,
        so ``max_leaf = max_Q - 1`` reproduces their schedule whenever ``n`` factors (see
        :func:`hiref.plan_levels`); their last level, a rank-``Q`` low-rank split into
        singletons, is replaced here by an exact assignment of each ``Q``-point leaf. What
        a leaf of ``s`` points costs (the exact assignment is cubic in ``s`` at worst;
        from 1024 points it starts from near-optimal potentials, :mod:`hiref.leaf_potentials`):
        memory ``8 s^2`` bytes per host thread (``28 s^2`` from 1024 points; see
        :func:`hiref.leaves.device_block_bytes` for a device batch); time per block on this
        project's 2-core CPU with SciPy, 2-D clouds: about 2 ms at 128, 60 ms at 512, 0.1 s
        at 1024, 0.45-0.7 s at 2048, so ``n / s`` leaves cost about ``n s`` work.
      depth: largest number of schedule entries, the leaf size included: at most
        ``depth - 1`` low-rank levels. The authors' ``hierarchy_depth`` counts only the
        ranks above ``Q``, so their ``hierarchy_depth = h`` corresponds to ``depth = h + 1``.
        At most ``MAX_DEPTH``.
      schedule: explicit ranks ``(r_1, ..., r_k)`` for the low-rank levels (any sequence of
        integers, a NumPy array included); overrides the dynamic programme. The leaf size is
        then ``ceil(n / prod(r))``.
      split: how a level splits its blocks. ``"lowrank"``: a low-rank OT solve of every block
        (the paper's; the settings below from ``outer_iters`` to ``cost_rank``).
        ``"halfspace"``: every block halved (rank 2) by the cheapest pair of half-spaces,
        each cloud cut at its median along one of ``split_directions`` random directions
        (:mod:`hiref.halfspace`; squared Euclidean cost only, on the host, ``max_rank``,
        ``depth`` and ``schedule`` unused). ``"auto"``: ``"halfspace"`` for squared Euclidean
        point clouds of at most ``hiref.halfspace.AUTO_MAX_DIM`` (2) dimensions without an
        explicit ``schedule``, else ``"lowrank"``; in 2-D at n = 2^16 it reaches the low-rank
        splits' cost within 0.005 % or below it in about a third of their time
        (docs/solver.md, "Half-space splits").
        The split taken is recorded in ``Alignment.extra["split"]``.
      split_directions: unit directions per half-space level along which each cloud may be
        cut (in 2-D evenly spaced angles over a half-turn from a random offset, else random;
        ``split_directions**2`` pairs, each with both pairings, are scored per block); the
        first ``hiref.halfspace.TOP_LEVELS`` levels score ``TOP_DIRECTIONS_FACTOR`` times as
        many, and blocks of at most ``DEEP_BLOCK`` points below them fewer
        (:func:`hiref.halfspace.level_directions`); at most ``MAX_SPLIT_DIRECTIONS``.
      outer_iters: mirror-descent iterations of the low-rank solver at each level.
      inner_iters: Sinkhorn iterations per projection (each mirror-descent step projects
        both factors once; the kernel is exponentiated once per projection). Projections
        that converge leave the rounding little to move, and the rounding's moves are the
        errors later levels inherit: in 2-D at n = 2^16, 50 instead of 12 brings the cost
        from 1.4 % above BSP-OT with 64 plans to below it, in about the same time (the
        refinement then stops after fewer sweeps; docs/performance.md).
      gamma: normalised mirror-descent step: each step moves every row of ``log Q`` (and
        ``log R``) by at most ``gamma`` between its most and least favoured co-cluster (the
        step is ``gamma`` divided by the largest spread, max - min over co-clusters, of a
        row of the gradient), whatever the scale of the cost.
      top_restarts: candidate splits of the first (coarsest) level, each from a different
        k-means++ start. Each runs ``hiref.solver.TRIAL_STEPS`` (5) mirror-descent steps of
        the first level's program on all the points; the one whose co-clusters keep together
        the most pairs of an exact matching of ``hiref.solver.PROBE_POINTS`` (512) sampled x
        and y points (ties: the lower low-rank objective) gives the start of the full split.
        Errors of the first split are the costliest (no later level undoes them), and the
        split with the lowest low-rank objective can cut across the transport map. 1: a single
        k-means++ start, as the authors.
      cost_rank: rank of the sampled factorisation of the Euclidean cost on large blocks,
        drawn from ``hiref.lowrank.LANDMARKS_PER_RANK * cost_rank`` landmarks per side.
      refine_sweeps: at most this many refinement sweeps after the leaves (see
        ``refine_tol``): the matched pairs ``(x_i, y_perm(i))`` are regrouped into groups of
        at most ``max_leaf`` (twice it after low-rank levels, up to 512) by halving their
        sums ``x_i + y_perm(i)`` along random axes of large spread (:mod:`hiref.refine`),
        and every group is re-solved exactly. Each sweep's groups straddle the previous
        borders; a sweep can only lower the cost and costs about one leaf level. 0: none, as
        the authors.
      refine_tol: refinement stops after a sweep that lowers the matching's cost by less than
        this fraction (0: always run ``refine_sweeps`` sweeps). A sweep of at least
        ``hiref.refine.PROBE_MIN_GROUPS`` groups first re-solves a random
        ``1 / hiref.refine.PROBE_SHARE`` of them and ends there when their gain per pair is
        below this fraction.
      cycle_rounds: at most this many Bellman-Ford rounds of the last pass
        (:func:`hiref.cycles.cancel`), which cancels negative cycles of exchanges among each
        pair's ``hiref.cycles.NEIGHBOURS`` nearest candidate partners, whatever their length;
        run after the refinement sweeps in 2-D point clouds (``hiref.cycles.DIMENSION``) of
        at most ``hiref.cycles.MAX_POINTS`` points. It ends sooner when no negative
        cycle is left among those exchanges. 0: none, as the authors.
      leaf_solver: exact solver of the leaves and refinement groups: ``"scipy"`` (SciPy on
        the host, in ``leaf_threads`` threads), ``"jax"`` (the batched JAX solver on JAX's
        device) or ``"auto"``: ``"scipy"`` when ``jax.default_backend()`` is the CPU, else
        ``"jax"``. The choice is recorded in ``Alignment.extra["leaf_solver"]``.
      leaf_threads: host threads of the ``"scipy"`` leaf solver and of half-space levels (0:
        every core the process may use).
      leaf_memory_mb: memory for the dense leaf costs held at once (either solver); bounds
        memory, not results.
      max_expansion: largest ``lcm(n, m) / max(n, m)`` accepted when ``|X| != |Y|``; at most
        ``MAX_EXPANSION``.
    """

    # Each field's doc and limits (hiref.settings.setting) document and check the workflow's
    # methods.hiref and methods.hiref_refined; hiref.validation.check_config enforces the same
    # limits on any HiRefConfig.
    max_rank: int = setting(16, "Largest rank of a low-rank split.", minimum=2)
    max_leaf: int | None = setting(
        None, "Largest block solved exactly at the last level, and the refinement group size "
        "(twice it after low-rank levels, up to 512) (null: 64 with half-space splits, 128 "
        "with low-rank ones); the authors' max_Q = "
        "max_leaf + 1 (their schedule when n factors). A leaf of s points costs 8 s^2 bytes "
        "per thread and about n s^2 work in all.", minimum=1)
    depth: int = setting(6, "Largest number of schedule entries, leaf included (the authors' "
                         "hierarchy_depth + 1).", minimum=2, maximum=MAX_DEPTH)
    schedule: tuple[int, ...] | None = setting(
        None, "Explicit ranks [r1, ..., rk] (overrides the dynamic programme); null: automatic.",
        items={"minimum": 2}, minItems=1)
    split: str = setting(
        "auto", "How a level splits its blocks: lowrank (a low-rank OT solve per block), "
        "halfspace (both clouds halved by the cheapest of split_directions x split_directions "
        "pairs of half-spaces; squared Euclidean only) or auto (halfspace for squared Euclidean "
        "point clouds of at most 2 dimensions without an explicit schedule, else lowrank).",
        enum=list(SPLITS))
    split_directions: int = setting(
        16, "Directions along which a half-space split may cut each cloud (in 2-D evenly "
        "spaced over a half-turn from a random offset, else random; four times as many, up to "
        "256, in the first three levels, half as many in blocks of at most 4096 points below "
        "them).", minimum=1,
        maximum=MAX_SPLIT_DIRECTIONS)
    outer_iters: int = setting(30, "Mirror-descent iterations per level.", minimum=0)
    inner_iters: int = setting(50, "Sinkhorn iterations per projection (two projections per "
                               "mirror-descent step).", minimum=1)
    gamma: float = setting(5.0, "Normalised mirror-descent step: a step moves each row of log Q "
                           "by at most gamma between its most and least favoured co-cluster.",
                           exclusiveMinimum=0)
    top_restarts: int = setting(
        8, "Candidate splits of the first (coarsest) level, each from a different k-means++ "
        "start, run for 5 mirror-descent steps on the whole first block; the one whose "
        "co-clusters keep together the most pairs of an exact matching of 512 sampled points "
        "restarts from its seeds for the full split (1: a single start, as the authors).",
        minimum=1)
    cost_rank: int = setting(32, "Rank of the sampled Euclidean cost factorisation (from "
                             "hiref.lowrank.LANDMARKS_PER_RANK x cost_rank landmark points per "
                             "side).", minimum=1)
    refine_sweeps: int = setting(
        10, "Refinement sweeps after the leaves: matched pairs regrouped into groups of at "
        "most max_leaf (twice it after low-rank levels, up to 512) by halving their sums "
        "x_i + y_perm(i) along random axes of large spread, each group re-solved exactly; "
        "a sweep can only lower the cost and costs about one leaf level. At most this many "
        "sweeps (see refine_tol).", minimum=0)
    refine_tol: float = setting(
        1e-4, "Refinement stops after a sweep that lowers the matching's cost by less than this "
        "fraction (0: always run refine_sweeps sweeps). A sweep of at least 128 groups first "
        "re-solves a random eighth of them and ends there when their gain per pair is below "
        "this fraction.", minimum=0, exclusiveMaximum=1)
    cycle_rounds: int = setting(
        1024, "Rounds of the last pass, in 2-D point clouds of at most 8192 points, that "
        "cancels negative cycles of exchanges in which each x may "
        "take one of the 8 points of Y nearest its partner (hiref.cycles): it finds "
        "exchanges of any length, where refinement sweeps find those within a group, and "
        "ends sooner when none is left. A round costs about 8 n operations. 0: none.",
        minimum=0)
    leaf_solver: str = setting(
        "auto", "Exact solver of the leaves and refinement groups: scipy (host, threads), jax "
        "(batched on JAX's device) or auto (scipy when JAX's backend is the CPU, else jax).",
        enum=list(LEAF_SOLVERS))
    leaf_threads: int = setting(0, "Host threads of the scipy leaf solver and of half-space "
                                "levels (0: every core the job may use).", minimum=0)
    leaf_memory_mb: int = setting(512, "Memory for the dense leaf costs held at once (bounds "
                                  "memory only).", minimum=1)
    max_expansion: int = setting(8, "Largest lcm(n, m) / max(n, m) accepted when |X| != |Y|.",
                                 minimum=1, maximum=MAX_EXPANSION)

    def replace(self, **changes) -> HiRefConfig:
        return dataclasses.replace(self, **changes)

    def leaf_limit(self, split: str) -> int:
        """The largest leaf of a solve whose levels take ``split`` (``"halfspace"`` or
        ``"lowrank"``): ``max_leaf``, or the split's ``DEFAULT_MAX_LEAF`` when it is None."""
        return DEFAULT_MAX_LEAF[split] if self.max_leaf is None else self.max_leaf

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        if out["schedule"] is not None:
            out["schedule"] = [int(rank) for rank in out["schedule"]]
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
      level_seconds: wall seconds of each level (low-rank levels, leaf level, refinement
        sweeps, the cycle pass), compilation excluded.
      seconds: solver seconds after compilation: from the input's normalisation to the
        checked bijection (the levels and the data preparation between them); excludes
        compilation and the evaluation of ``cost_p1`` and ``cost_p2``.
      compile_seconds: seconds spent compiling the solve's programs ahead of time, before
        the timed part (near zero when the shapes were compiled before in this process or
        are in JAX's persistent compilation cache).
      config: the :class:`HiRefConfig` used; ``cost`` the cost name.
      extra: diagnostics: ``leaf_solver`` ("scipy" or "jax"), ``dtype`` of the device work,
        ``normalisation`` (shift, scale, and the cost units, see
        :func:`hiref.costs.normalise`), ``levels``: one dict per level as passed to
        ``progress``: ``level, blocks, block_size, rank, seconds``; for low-rank levels also
        ``objective`` (the soft low-rank plan's cost before rounding, the caller's units,
        mass one), ``marginal_error`` (largest L1 row-marginal error of a block's factors
        before rounding, see :class:`hiref.lowrank.SplitDiagnostics`), ``moved_share``
        (share of points that the rounding moved away from their most likely co-cluster)
        and, with candidate first splits, ``candidate_agreement``; for the leaf level and
        refinement sweeps the matching's mean ``cost`` after it, and ``changed_share`` (pairs
        a sweep changed); for a probed sweep ``probe_gain`` (its probe's estimate of the
        sweep's gain, a share of the cost; ``blocks``: the groups it solved, fewer than all
        when it stopped after the probe); for the cycle pass (level ``"cycles"``, see
        ``cycle_rounds``) the ``rounds`` it ran, the ``cycles`` it applied and ``optimal``
        (it ended with no negative cycle left among its exchanges). ``matrix_cost``: the cost
        of the result under a precomputed matrix.
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
    compile_seconds: float = 0.0
    extra: dict = field(default_factory=dict)
