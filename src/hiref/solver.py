"""Hierarchical Refinement: ``solve(x, y)`` returns a bijection (or, for ``|X| != |Y|``, a sparse
coupling) approximating the optimal transport map, in memory linear in ``n``.

The points are kept in two index orders, ``order_x`` and ``order_y``, in which the blocks of
the current level are contiguous segments of equal length up to one point. A level splits
every block at once (``jax.vmap`` over the padded blocks) into co-clusters and regroups the
orders (in low dimension, :mod:`hiref.halfspace` halves every block on the host instead);
the leaf level solves every block exactly (:mod:`hiref.leaves`), after which
``order_x[t]`` is matched to ``order_y[t]``; refinement sweeps (:mod:`hiref.refine`) regroup
the matched pairs and re-solve the groups exactly.

Timing: every program a solve runs is compiled ahead of time for the shapes its schedule
implies (``jax.jit(...).lower(...).compile()``) before the clock starts, so
``Alignment.seconds`` is solver time only and ``Alignment.compile_seconds`` the compilation
(near zero when the same shapes were compiled before in the process or are in JAX's
persistent compilation cache).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from hiref import atoms, costs, cycles, halfspace, host, leaves, lowrank, refine, starts, validation
from hiref.config import Alignment, HiRefConfig
from hiref.schedule import solver_schedule
from hiref.seeds import check_seed

#: Candidates are judged by agreement with an exact matching of this many sampled points.
PROBE_POINTS = 512
#: Mirror-descent steps each candidate runs before the choice (the split is mostly decided
#: by then); the winner's start then runs the full ``outer_iters``.
TRIAL_STEPS = 5
#: Bytes of points a level program reads at once (x and y rows of a batch of whole blocks, or
#: a chunk of one block's): its temporaries stay a small multiple of this, and so does what
#: the splits keep (of size ``r`` per point), whatever the size of the clouds.
LEVEL_CHUNK_BYTES = 1 << 25
#: Largest exact leaf that ``|X| != |Y|`` may bring about by repeating points (beyond a
#: ``max_leaf`` chosen that large): the authors' largest leaves hold 3826 points, and an exact
#: leaf of 2048 takes about 7 s with SciPy on the 2-core development CPU, 4096 about 8 times
#: that (cubic).
MAX_EXPANDED_LEAF = 4096
#: Per-backend XLA options of the level programs. On the CPU the fusion emitters are off:
#: the programs compile in about half the time and run as fast (the first call at
#: n = 4096 is mostly compilation).
_COMPILER_OPTIONS = {"cpu": {"xla_cpu_use_fusion_emitters": False}}
# Independent random streams of one seed (see _rng).
_LEVEL_STREAM, _CANDIDATE_STREAM, _REFINE_STREAM, _HALFSPACE_STREAM = 0, 1, 2, 3


def solve(
    x,
    y,
    *,
    cost="sqeuclidean",
    config: HiRefConfig | None = None,
    seed: int = 0,
    progress: bool | Callable[[dict], None] | None = None,
) -> Alignment:
    """Aligns point clouds ``x`` (n, d) and ``y`` (m, d) by Hierarchical Refinement.

    Args:
      x, y: arrays (NumPy or JAX) of shape (n, d) and (m, d), of any real dtype (floats of
        any width, integers, bool). They are shifted and scaled together before any
        low-precision work (see :class:`hiref.costs.Normalised`): float32 points on reading,
        in float32; other points in float64, into a float32 copy (float64 with JAX's x64
        mode and 64-bit input). Exact leaves on the host and reported costs read the
        caller's points in float64. Reported costs are in the caller's units. Clouds of few
        distinct points (ties; see :mod:`hiref.atoms`) are solved exactly on their atoms.
      cost: ``"sqeuclidean"`` (exact low-rank factors), ``"euclidean"`` (sampled factors on
        large blocks, dense on small ones) or an (n, m) cost matrix (small problems).
      config: solver settings; ``None`` means ``HiRefConfig()``.
      seed: integer in ``[0, 2**64)``; seeds every random step, so the same inputs and seed
        give the same result.
      progress: ``True`` prints one line per level to stderr; a callable receives a dict per
        level (``level, blocks, block_size, rank, seconds`` and the level's diagnostics,
        see :class:`hiref.Alignment`).

    Returns:
      An :class:`Alignment`. With ``n == m`` it holds the permutation ``perm``; otherwise a
      coupling with exact uniform marginals, obtained from a bijection between ``x`` repeated
      ``L/n`` times and ``y`` repeated ``L/m`` times, ``L = lcm(n, m)`` (an optimal bijection
      there is an optimal coupling here); ``L / max(n, m)`` must not exceed
      ``config.max_expansion``. That bijection runs with leaves of
      ``max_leaf * max(L/n, L/m)`` points (the repeats of ``max_leaf`` distinct points),
      which must not exceed ``MAX_EXPANDED_LEAF`` (unless ``max_leaf`` itself does), and
      refinement groups of :func:`hiref.refine.group_limit` of that leaf.

    Raises:
      ValueError: naming the fix, for any invalid input or setting, before any work; also
        for ``cost="sqeuclidean"`` on clouds whose squared distances overflow float64
        (radius beyond ``hiref.costs.LARGEST_SQEUCLIDEAN_SCALE``, about 6.7e153).

    Memory: the input, plus one aligned float32 copy of it unless the input is float32 and
    JAX can use it in place (on a CPU: a C-contiguous array aligned to 64 bytes, such as a
    JAX array, :func:`hiref.aligned.aligned_empty` or a pair read by
    :func:`hiref.datasets.load_pair`), plus a part that does not grow with
    ``d``: the splits' state (a few numbers per point and co-cluster), chunks of
    ``LEVEL_CHUNK_BYTES`` and ``hiref.costs.HOST_CHUNK``, one leaf per thread (docs/memory.md).
    Half-space levels (``split``) hold both clouds in float64 on the host (``16 d`` bytes a
    point pair) and, per thread, chunks of ``hiref.halfspace.PROJECTION_ENTRIES``
    projections. With ``n != m`` the repeated points are copies.
    """
    config = HiRefConfig() if config is None else config
    validation.check_config(config)
    validation.check_cost_name(cost)
    seed = check_seed(seed)
    report = _progress_printer(validation.check_progress(progress))
    x = validation.as_points(x, "x")
    y = validation.as_points(y, "y")
    validation.check_pair(x, y)
    n, m = len(x), len(y)
    matrix = None if isinstance(cost, str) else validation.as_cost_matrix(cost, n, m)
    cost_name = "precomputed" if matrix is not None else cost

    split = _split_kind(config, x.shape[1], cost_name)
    config = config.replace(max_leaf=config.leaf_limit(split))  # the result records what ran
    rep_x, rep_y = _repetitions(n, m, config)
    expanded = _expanded(config, rep_x, rep_y)
    if split == "lowrank":
        _schedule(n * rep_x, expanded)  # a setting that fits no schedule is refused on any input
    started = time.perf_counter()
    few = None if matrix is not None else atoms.find(x, y)
    if few is not None:
        match = _match_atoms(few, rep_x, rep_y, cost_name, started, report)
    else:
        match = _match(
            _repeat(x, rep_x, 0), _repeat(y, rep_y, 0),
            None if matrix is None else _repeat(_repeat(matrix, rep_x, 0), rep_y, 1),
            cost_name, expanded, seed, report, split,
        )
    return _alignment(x, y, matrix, match, rep_x, rep_y, config, cost_name)


def _split_kind(config: HiRefConfig, dim: int, cost: str) -> str:
    """The split of a solve's levels (:func:`hiref.halfspace.resolve`); refuses
    ``split="halfspace"`` with a cost it cannot score."""
    if config.split == "halfspace" and cost != "sqeuclidean":
        raise ValueError(
            f"HiRefConfig(split='halfspace') scores its splits with the squared Euclidean cost, "
            f"but cost is {cost!r}; use cost='sqeuclidean', or split='lowrank' (or 'auto')."
        )
    return halfspace.resolve(config.split, dim, cost, config.schedule)


def _repetitions(n: int, m: int, config: HiRefConfig) -> tuple[int, int]:
    """How many times ``solve`` repeats each point of ``x`` (n points) and ``y`` (m points):
    ``lcm(n, m) / n`` and ``lcm(n, m) / m``; raises ``ValueError`` beyond
    ``config.max_expansion`` or where the repeats would make exact leaves too large
    (:func:`_check_expanded_leaf`)."""
    if n == m:
        return 1, 1
    total = math.lcm(n, m)
    if total // max(n, m) > config.max_expansion:
        raise ValueError(
            f"|X| = {n} and |Y| = {m} need a common refinement of lcm = {total} points, "
            f"{total // max(n, m)} times the larger set (HiRefConfig.max_expansion = "
            f"{config.max_expansion}). Subsample the larger set to the smaller size (as the "
            "paper does; see hiref.subsample_to_match) or raise max_expansion."
        )
    rep_x, rep_y = total // n, total // m
    _check_expanded_leaf(n, m, rep_x, rep_y, config.max_leaf)
    return rep_x, rep_y


def _expanded(config: HiRefConfig, rep_x: int, rep_y: int) -> HiRefConfig:
    """The settings of the bijection between the repeated clouds: leaves (and refinement
    groups) as large as the repetition keep ``max_leaf`` distinct points of the more
    repeated side in a leaf."""
    return config.replace(max_leaf=config.max_leaf * max(rep_x, rep_y))


def work_dtype(x: np.ndarray, y: np.ndarray) -> np.dtype:
    """The dtype a solve of ``x`` and ``y`` asks for: float64 for 64-bit (or wider) input of
    any kind (float64, int64, long double; it runs in float64 when JAX's x64 mode is on),
    float32 otherwise."""
    wide = max(x.dtype.itemsize, y.dtype.itemsize) >= 8
    return np.dtype(np.float64 if wide else np.float32)


def _alignment(x, y, matrix, match: _Match, rep_x: int, rep_y: int, config: HiRefConfig,
               cost_name: str) -> Alignment:
    """The :class:`Alignment` of ``x`` (n, d) and ``y`` (m, d) from the bijection ``match``
    between ``x`` repeated ``rep_x`` times and ``y`` repeated ``rep_y`` times."""
    n, m = len(x), len(y)
    rows, cols = match.order_x // rep_x, match.order_y // rep_y
    if n == m:
        perm = np.empty(n, np.int64)
        perm[rows] = cols
        rows = np.arange(n)
        cols = perm
        weights = np.full(n, 1.0 / n)
    else:
        perm = None
        total = n * rep_x
        pairs, counts = np.unique(rows.astype(np.int64) * m + cols, return_counts=True)
        rows, cols, weights = pairs // m, pairs % m, counts / total

    extra = dict(match.extra)
    if matrix is not None:
        extra["matrix_cost"] = float(np.dot(weights, matrix[rows, cols].astype(np.float64)))
    return Alignment(
        perm=perm,
        coupling=(rows, cols, weights),
        cost_p1=costs.coupling_cost(x, y, rows, cols, weights, 1),
        cost_p2=costs.coupling_cost(x, y, rows, cols, weights, 2),
        schedule=match.schedule,
        level_seconds=match.level_seconds,
        seconds=match.seconds,
        compile_seconds=match.compile_seconds,
        config=config,
        cost=cost_name,
        extra=extra,
    )


def _check_expanded_leaf(n: int, m: int, rep_x: int, rep_y: int, max_leaf: int) -> None:
    """Refuses ``|X| != |Y|`` whose repeated points would make exact leaves larger than
    both ``max_leaf`` and ``MAX_EXPANDED_LEAF``."""
    repeats = max(rep_x, rep_y)
    leaf = min(n * rep_x, max_leaf * repeats)
    if leaf > max(max_leaf, MAX_EXPANDED_LEAF):
        raise ValueError(
            f"|X| = {n} and |Y| = {m} are solved as {n * rep_x} repeated points in exact leaves "
            f"of up to {leaf} points (max_leaf = {max_leaf} times {repeats} repeats), beyond "
            f"{MAX_EXPANDED_LEAF} (an exact leaf's time grows with the cube of its size). "
            "Subsample the larger set to the smaller size (hiref.subsample_to_match) or lower "
            f"HiRefConfig.max_leaf to at most {max(1, MAX_EXPANDED_LEAF // repeats)}."
        )


def _match_atoms(few, rep_x, rep_y, cost, started, report) -> _Match:
    """The exact bijection of a problem of few atoms (:mod:`hiref.atoms`), timed from
    ``started``; its one level is reported as ``"atoms"``."""
    ax, ay = few
    order_x, order_y = atoms.match(ax, ay, rep_x, rep_y, cost)
    _check_bijection(order_x, order_y, len(order_x))
    seconds = time.perf_counter() - started
    # One exact block of all the (repeated) points, solved on the atoms.
    info = {"level": "atoms", "blocks": 1, "block_size": len(order_x), "rank": len(order_x),
            "atoms": [len(ax.points), len(ay.points)], "seconds": seconds}
    report(info)
    return _Match(order_x, order_y, [], [seconds], seconds, 0.0,
                  {"leaf_solver": "atoms", "levels": [info], "dtype": "float64"})


def _repeat(a: np.ndarray, times: int, axis: int) -> np.ndarray:
    """``a`` with every entry along ``axis`` repeated ``times`` times (``a`` itself, not a copy,
    once)."""
    return a if times == 1 else np.repeat(a, times, axis=axis)


def subsample_to_match(x, y, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's treatment of ``|X| != |Y|``: a seeded uniform subsample of the larger set.

    Returns ``(x, y, kept)`` where ``kept`` are the indices kept of the larger set (sorted).
    """
    seed = check_seed(seed)
    x, y = np.asarray(x), np.asarray(y)
    larger = x if len(x) > len(y) else y
    size = min(len(x), len(y))
    kept = np.sort(np.random.default_rng(seed).choice(len(larger), size, replace=False))
    return (x[kept], y, kept) if len(x) > len(y) else (x, y[kept], kept)


@dataclass
class _Match:
    """A bijection between equal-size clouds: ``order_x[t]`` matched to ``order_y[t]``."""

    order_x: np.ndarray
    order_y: np.ndarray
    schedule: list[int]
    level_seconds: list[float]
    seconds: float
    compile_seconds: float
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """Everything about a solve that its size and settings fix before any data is seen.

    A plan may hold a part of a solve (see :mod:`hiref.shard`): its low-rank levels from
    ``first_level`` on, and some of each level's blocks; ``level_widths`` and ``leaf_width``
    stay those of the whole solve, so every block is padded as in the whole solve.

    Attributes:
      schedule: ranks of the low-rank levels followed by the leaf block size (the whole
        solve's).
      level_sizes: block sizes (b_t,) entering each low-rank level of the plan;
        level_widths: the width each level's blocks are padded to (its largest block).
      first_level: the number of the plan's first low-rank level in the schedule (0: the
        first).
      leaf_sizes: the leaf block sizes (empty when the plan solves no leaves); leaf_width:
        the largest leaf. group_sizes: the refinement groups' sizes (empty when refinement
        does not run); halvings: halvings that make those groups.
      leaf_solver: "scipy" or "jax"; dtype: the device float type.
      halfspace_levels: the number of half-space levels (:mod:`hiref.halfspace`) that make
        the leaves in place of low-rank levels (0: the levels are low-rank, ``level_sizes``).
    """

    schedule: list[int]
    level_sizes: list[np.ndarray]
    level_widths: list[int]
    first_level: int
    leaf_sizes: np.ndarray
    leaf_width: int
    group_sizes: np.ndarray
    halvings: int
    leaf_solver: str
    dtype: np.dtype
    halfspace_levels: int = 0

    @property
    def ranks(self) -> list[int]:
        """The rank of each low-rank level of the plan."""
        return self.schedule[self.first_level:self.first_level + len(self.level_sizes)]

    def replace(self, **changes) -> _Plan:
        return dataclasses.replace(self, **changes)


def _make_plan(n: int, config: HiRefConfig, input_dtype, split: str = "lowrank") -> _Plan:
    """The plan of a solve of ``n`` points whose levels take ``split`` (``"lowrank"``, or
    ``"halfspace"``: ``halvings_for(n, max_leaf)`` halvings, each a rank-2 level)."""
    config = config.replace(max_leaf=config.leaf_limit(split))
    level_sizes, halfspace_levels = [], 0
    if split == "halfspace":
        halfspace_levels = refine.halvings_for(n, config.max_leaf)
        sizes = halfspace.level_sizes(n, halfspace_levels)[-1]
        schedule = [2] * halfspace_levels + [int(sizes.max())]
    else:
        schedule, sizes = _schedule(n, config), np.array([n])
        for r in schedule[:-1]:
            level_sizes.append(sizes)
            sizes = _capacities(sizes, r).ravel()
    halvings = (refine.halvings_for(n, refine.group_limit(config.max_leaf, split))
                if config.refine_sweeps else 0)
    group_sizes = halfspace.level_sizes(n, halvings)[-1]
    wide = input_dtype == np.float64 and jax.config.jax_enable_x64
    return _Plan(schedule, level_sizes, [int(s.max()) for s in level_sizes], 0, sizes,
                 int(sizes.max()), group_sizes if halvings else np.zeros(0, int), halvings,
                 leaves.resolve(config.leaf_solver), np.dtype(np.float64 if wide else np.float32),
                 halfspace_levels)


def _capacities(sizes: np.ndarray, r: int) -> np.ndarray:
    """Co-cluster sizes (b, r) when blocks of ``sizes`` (b,) split into ``r``, equal up to one."""
    return sizes[:, None] // r + (np.arange(r)[None, :] < sizes[:, None] % r)


class _Programs:
    """The compiled programs of one solve (or part of one), built ahead of time from the
    plan's shapes.

    ``levels[t]`` is the plan's low-rank level ``t`` (the candidate first splits run the
    first level's program for fewer steps); ``leaves`` the device assignment programs by
    ``(blocks, width)`` (``leaf_solver="jax"`` only).
    """

    def __init__(self, plan: _Plan, n: int, d: int, with_matrix: bool, cost: str,
                 config: HiRefConfig):
        options = _COMPILER_OPTIONS.get(jax.default_backend(), {})
        compiled = {}
        self.levels = []
        for sizes, width, r in zip(plan.level_sizes, plan.level_widths, plan.ranks):
            shape = (len(sizes), width, r)
            if shape not in compiled:
                compiled[shape] = _lower_level(plan, n, d, *shape, with_matrix, cost,
                                               config).compile(compiler_options=options)
            self.levels.append(compiled[shape])
        self.leaves = {}
        if plan.leaf_solver == "jax":
            groups, group_width = len(plan.group_sizes), int(plan.group_sizes.max(initial=0))
            probe = refine.probe_groups(groups, config.refine_tol)
            for blocks, width in ((len(plan.leaf_sizes), plan.leaf_width),
                                  (groups, group_width), (probe, group_width),
                                  (groups - probe, group_width)):
                if blocks and (blocks, width) not in self.leaves:
                    self.leaves[blocks, width] = _lower_leaves(
                        plan, n, d, blocks, width, with_matrix, cost, config).compile()


def _compile(plan: _Plan, n: int, d: int, with_matrix: bool, cost: str,
             config: HiRefConfig) -> tuple[_Programs, float]:
    """The plan's programs for ``n`` points in ``d`` dimensions, and the seconds compiling
    them took."""
    start = time.perf_counter()
    programs = _Programs(plan, n, d, with_matrix, cost, config)
    return programs, time.perf_counter() - start


def _clouds_spec(n: int, d: int, dtype) -> costs.Clouds:
    spec = jax.ShapeDtypeStruct
    return costs.Clouds(spec((n, d), dtype), spec((n, d), dtype), spec((d,), dtype),
                        spec((), dtype))


def _lower_level(plan: _Plan, n: int, d: int, b: int, s: int, r: int, with_matrix: bool,
                 cost: str, config: HiRefConfig) -> jax.stages.Lowered:
    """:func:`_split_level` lowered for ``n`` points in ``d`` dimensions split in ``b`` blocks
    of at most ``s`` into ``r`` co-clusters."""
    spec, dt = jax.ShapeDtypeStruct, plan.dtype
    order = spec((n,), jnp.int32)
    sampled = not with_matrix and lowrank.needs_noise(cost, s, config.cost_rank)
    return _split_level.lower(
        _clouds_spec(n, d, dt), spec((n, n), dt) if with_matrix else None, order, order,
        spec((b, s), jnp.int32), spec((b, s), bool), spec((b, r), jnp.int32),
        spec((b, r), dt), spec((b, 2, s), dt) if sampled else None, spec((), dt),
        spec((), jnp.int32),
        **_level_layout(b, s, d, dt.itemsize, cost, config, with_matrix),
    )


def _level_layout(b: int, s: int, d: int, itemsize: int, cost: str, config: HiRefConfig,
                  with_matrix: bool) -> dict:
    """How a level of ``b`` blocks of ``s`` points in ``d`` dimensions reads its points within
    ``LEVEL_CHUNK_BYTES``: ``batch`` blocks at once, ``chunk`` positions of each at a time
    (small blocks whole and many at once, large ones one at a time in chunks); returns the
    static arguments of :func:`_split_level`, ``program`` (a
    :class:`hiref.lowrank.SplitProgram`) and ``batch``."""
    rows = max(1, LEVEL_CHUNK_BYTES // (2 * d * itemsize))
    chunk = lowrank.chunk_rows(cost, s, config.cost_rank, with_matrix, rows)
    program = lowrank.SplitProgram(cost=cost, cost_rank=config.cost_rank,
                                   inner_iters=config.inner_iters, chunk=chunk)
    return {"program": program, "batch": max(1, min(b, rows // chunk))}


def _lower_leaves(plan: _Plan, n: int, d: int, b: int, s: int, with_matrix: bool, cost: str,
                  config: HiRefConfig) -> jax.stages.Lowered:
    """:func:`hiref.leaves.solve_device` lowered for ``b`` blocks of at most ``s`` points."""
    spec, dt = jax.ShapeDtypeStruct, plan.dtype
    order = spec((n,), jnp.int32)
    return leaves.solve_device.lower(
        _clouds_spec(n, d, dt), spec((n, n), dt) if with_matrix else None, order, order,
        spec((b, s), jnp.int32), spec((b, s), bool), cost=cost,
        batch=leaves.device_batch(s, d, b, config.leaf_memory_mb << 20, dt.itemsize),
    )


def _match(x, y, matrix, cost, config, seed, report, split) -> _Match:
    """Bijection between equal-size ``x`` and ``y``, with its timings and diagnostics.

    The steps :mod:`hiref.shard` runs in separate jobs, here in one: the levels
    (:func:`_split_levels`, or :func:`_halfspace_levels` when ``split`` is ``"halfspace"``),
    the leaves (:func:`_solve_blocks`), then the leaf level's cost, refinement and the check
    (:func:`_finish`)."""
    n, d = x.shape
    plan = _make_plan(n, config, work_dtype(x, y), split)
    programs, compile_seconds = _compile(plan, n, d, matrix is not None, cost, config)
    start = time.perf_counter()
    problem = _problem(x, y, matrix, cost, plan.dtype, config)
    timer = _Timer(report)
    if plan.halfspace_levels:
        order_x, order_y = _halfspace_levels(plan, problem, seed, timer)
    else:
        order = jax.device_put(np.arange(n, dtype=np.int32))
        order_x, order_y = _split_levels(programs, plan, problem, order, order,
                                         _solve_draws(programs, plan, problem, seed),
                                         _level_reporter(plan, problem, timer))
    started = time.perf_counter()
    order_x, order_y = np.asarray(order_x), np.asarray(order_y)
    order_y = _solve_blocks(programs, plan, problem, order_x, order_y, plan.leaf_sizes,
                            plan.leaf_width)
    order_x, order_y = _finish(programs, plan, problem, order_x, order_y, seed, timer, started)
    return _Match(order_x, order_y, plan.schedule, timer.seconds, time.perf_counter() - start,
                  compile_seconds, _diagnostics(plan, problem, timer))


@dataclass(frozen=True)
class _Problem:
    """What a solve's programs read: the normalised clouds (:class:`hiref.costs.Normalised`),
    on the device (``clouds``, ``matrix`` or None), the cost name, settings and ``gamma`` in
    the device dtype."""

    norm: costs.Normalised
    clouds: costs.Clouds
    matrix: jax.Array | None
    gamma: jax.Array
    cost: str
    config: HiRefConfig


def _problem(x, y, matrix, cost, dtype, config) -> _Problem:
    """Normalises ``x``, ``y`` (and ``matrix``) for work in ``dtype`` and puts them on the
    device."""
    norm = costs.normalise(x, y, "sqeuclidean" if cost == "precomputed" else cost, matrix,
                           dtype)
    return _on_device(norm, cost, dtype, config)


def _on_device(norm: costs.Normalised, cost, dtype, config) -> _Problem:
    """The :class:`_Problem` of normalised clouds (a whole solve's, or a block job's
    blocks)."""
    # Plain transfers (on a CPU none: the device uses the stored points in place); nothing
    # in the timed part compiles. The host reads the same points to seed the splits, group
    # the refinement and build the leaves' costs.
    mj = None if norm.matrix is None else jax.device_put(norm.matrix.astype(dtype))
    return _Problem(norm, norm.clouds(), mj, jax.device_put(np.asarray(config.gamma, dtype)),
                    cost, config)


class _Timer:
    """The seconds and diagnostics of each level of a solve, in order, each passed to
    ``report`` (the ``progress`` callback) when its level is done."""

    def __init__(self, report):
        self.report, self.seconds, self.levels = report, [], []

    def finished(self, info: dict, started: float) -> None:
        """A level ``started`` at that ``time.perf_counter()`` is done now."""
        self.add(info, time.perf_counter() - started)

    def add(self, info: dict, seconds: float) -> None:
        """A level is done that took ``seconds`` (in a sharded solve, summed over jobs)."""
        self.seconds.append(seconds)
        info = {**info, "seconds": seconds}
        self.levels.append(info)
        self.report(info)


def _split_levels(programs, plan, problem, order_x, order_y, draws, finished):
    """Runs the plan's low-rank levels on the orders ``order_x``, ``order_y`` (n,) int32 whose
    consecutive segments of ``plan.level_sizes[0]`` are its first level's blocks.

    ``draws(t, sizes)`` gives the random numbers of the plan's level ``t``: the k-means++
    uniforms (b, r) and noise (b, 2, width) or None (in the device dtype), and the level's
    extra diagnostics (a dict); ``finished(t, diag, info, started)`` is called after each
    level with its per-block :class:`hiref.lowrank.SplitDiagnostics`. Returns the regrouped
    orders (device arrays)."""
    config = problem.config
    for t, (sizes, width, r) in enumerate(zip(plan.level_sizes, plan.level_widths, plan.ranks)):
        started = time.perf_counter()
        idx, mask = _segment_arrays(sizes, width)
        caps = _capacities(sizes, r).astype(np.int32)
        uniforms, noise, info = draws(t, sizes)
        order_x, order_y, diag = programs.levels[t](
            problem.clouds, problem.matrix, order_x, order_y, idx, mask, caps, uniforms, noise,
            problem.gamma, np.int32(config.outer_iters))
        finished(t, diag, info, started)
    return order_x, order_y


def _halfspace_levels(plan, problem, seed, timer):
    """The plan's half-space levels (:func:`hiref.halfspace.split_level`) on the host, from
    the caller's points in float64; returns the orders (n,) whose segments of
    ``plan.leaf_sizes`` are the leaves."""
    norm = problem.norm
    n = int(plan.leaf_sizes.sum())
    order_x = order_y = np.arange(n)
    with host.pool(host.threads(problem.config.leaf_threads)) as pool:
        for level, sizes in enumerate(halfspace.level_sizes(n, plan.halfspace_levels)[:-1]):
            started = time.perf_counter()
            # The first cut is checked against a sampled exact matching (its time counted in
            # the first level's).
            probe = _probe_pairs(norm, problem.cost, _rng(seed, _CANDIDATE_STREAM),
                                 halfspace.PROBE_POINTS) if level == 0 else None
            order_x, order_y, block_cost = halfspace.split_level(
                norm.take_exact, order_x, order_y, sizes,
                halfspace.level_directions(problem.config.split_directions, level,
                                           int(sizes.max())),
                _rng(seed, _HALFSPACE_STREAM, level), pool, probe)
            timer.finished({"level": level + 1, "blocks": len(sizes),
                            "block_size": int(sizes.max()), "rank": 2, "split": "halfspace",
                            "objective": _level_objective(sizes, block_cost, n, norm)}, started)
    return order_x, order_y


def _solve_draws(programs, plan, problem, seed):
    """The ``draws`` of :func:`_split_levels` in a solve from level 0: each level's numbers
    from ``seed`` (:func:`_level_draws`), the first level's start chosen among candidates
    when ``top_restarts > 1``."""

    def draws(t, sizes):
        level, info, uniforms = plan.first_level + t, {}, None
        if level == 0 and problem.config.top_restarts > 1:
            uniforms, info["candidate_agreement"] = _candidate_start(
                programs.levels[0], problem, plan.ranks[0], seed)
        return (*_level_draws(seed, level, len(sizes), plan.level_widths[t], plan.ranks[t],
                              problem.cost, problem.config, plan.dtype, uniforms), info)

    return draws


def _level_draws(seed, level, blocks, width, r, cost, config, dtype, uniforms=None):
    """The random numbers of low-rank level ``level`` (0: the first) of a solve, for all its
    ``blocks`` blocks padded to ``width`` into ``r`` co-clusters: the k-means++ uniforms
    (blocks, r) (unless ``uniforms`` are given: the chosen candidate's) and the noise of the
    sampled cost factors (blocks, 2, width) or None, in ``dtype``."""
    rng = _rng(seed, _LEVEL_STREAM, level)
    if uniforms is None:
        uniforms = _seed_uniforms(rng, blocks, r)
    return uniforms.astype(dtype), _noise(rng, cost, config, width, blocks, dtype=dtype)


def _level_reporter(plan, problem, timer):
    """The ``finished`` of :func:`_split_levels` in a solve of all the plan's blocks: each
    level's diagnostics (:func:`_level_info`) to ``timer``."""
    n = int(plan.level_sizes[0].sum()) if plan.level_sizes else 0

    def finished(t, diag, info, started):
        timer.finished(_level_info(plan.first_level + t, plan.ranks[t], plan.level_sizes[t],
                                   diag, info, n, problem.norm), started)

    return finished


def _level_info(level, r, sizes, diag, info, n, norm) -> dict:
    """The diagnostics of low-rank level ``level`` (0: the first) of rank ``r`` that split
    blocks of ``sizes`` (b,) of ``n`` points in all, from its per-block ``diag`` (each
    (b,)) and ``info`` (extra entries): see :class:`hiref.Alignment`'s ``extra``."""
    return {
        "level": level + 1, "blocks": len(sizes), "block_size": int(sizes.max()), "rank": r,
        **info,
        "objective": _level_objective(sizes, diag.objective, n, norm),
        "marginal_error": float(np.max(np.asarray(diag.marginal_error))),
        "moved_share": float(np.asarray(diag.moved).sum()) / (2 * n),
    }


def _level_objective(sizes, block_objective, n, norm) -> float:
    """A level's objective in the caller's units: its blocks' objectives (b,), normalised
    units, weighted by their ``sizes`` (b,) of ``n`` points in all."""
    weighted = np.dot(sizes / n, np.asarray(block_objective, np.float64))
    return float(weighted) * norm.cost_scale + norm.cost_offset


def _finish(programs, plan, problem, order_x, order_y, seed, timer, started):
    """After the leaves of every block: the leaf level's cost and diagnostics (the leaf
    level ``started`` then), the refinement sweeps (over all the pairs: the groups straddle
    the blocks) and the check that the result is a bijection. Returns the final orders."""
    norm, cost, config = problem.norm, problem.cost, problem.config
    n = len(order_x)
    total = _matching_cost(norm, order_x, order_y, cost)
    timer.finished({"level": "leaf", "blocks": len(plan.leaf_sizes),
                    "block_size": plan.leaf_width, "rank": plan.leaf_width,
                    "cost": total * norm.cost_scale + norm.cost_offset}, started)

    rng = _rng(seed, _REFINE_STREAM)
    with host.pool(host.threads(config.leaf_threads)) as pool:  # one pool for all sweeps
        for sweep in range(config.refine_sweeps if plan.halvings else 0):
            started = time.perf_counter()
            pairs = refine.pair_points(norm.take, order_x, order_y, rng)
            order_p, group_sizes = refine.group_pairs(pairs, plan.halvings, rng, pool)
            del pairs
            probe = refine.probe_groups(len(group_sizes), config.refine_tol)
            order_p, group_sizes = refine.probe_first(order_p, group_sizes, probe, rng)
            order_x, order_y = order_x[order_p], order_y[order_p]
            before = order_y.copy()
            order_y, solved, gain_estimate = _sweep_groups(
                programs, plan, problem, order_x, order_y, group_sizes, probe, total)
            previous, total = total, _matching_cost(norm, order_x, order_y, cost)
            timer.finished({"level": f"refine {sweep + 1}", "blocks": solved,
                            "block_size": int(group_sizes.max()),
                            "rank": int(group_sizes.max()),
                            "cost": total * norm.cost_scale + norm.cost_offset,
                            "changed_share": float(np.mean(order_y != before)),
                            **({} if gain_estimate is None else
                               {"probe_gain": gain_estimate / previous})}, started)
            if solved < len(group_sizes) or previous - total <= config.refine_tol * previous:
                break
    if _cancels_cycles(problem, n):
        order_y = _cancel_cycles(problem, order_x, order_y, timer)
    _check_bijection(order_x, order_y, n)
    return order_x, order_y


def _cancels_cycles(problem, n: int) -> bool:
    """Whether a solve of ``n`` pairs ends with :func:`hiref.cycles.cancel`: point clouds
    of ``cycles.DIMENSION`` dimensions and at most ``cycles.MAX_POINTS`` points, with
    ``cycle_rounds`` > 0."""
    norm = problem.norm
    return (problem.config.cycle_rounds > 0 and norm.matrix is None
            and norm.x.shape[1] == cycles.DIMENSION and 2 <= n <= cycles.MAX_POINTS)


def _cancel_cycles(problem, order_x, order_y, timer) -> np.ndarray:
    """The last pass (:func:`hiref.cycles.cancel`) on the matching ``order_x[t] ->
    order_y[t]``, in float64 normalised units: the new ``order_y``."""
    norm, n = problem.norm, len(order_x)
    started = time.perf_counter()
    p = 2 if problem.cost == "sqeuclidean" else 1
    x, y = norm.take_exact(0, order_x), norm.take_exact(1, order_y)
    partner, stats = cycles.cancel(x, y, p, problem.config.cycle_rounds)
    order_y = order_y[partner]
    timer.finished({"level": "cycles", "blocks": 1, "block_size": n, "rank": n,
                    "cost": _matching_cost(norm, order_x, order_y, problem.cost)
                    * norm.cost_scale + norm.cost_offset,
                    "rounds": stats.rounds, "cycles": stats.cycles,
                    "optimal": stats.optimal}, started)
    return order_y


def _sweep_groups(programs, plan, problem, order_x, order_y, sizes, probe, total):
    """Re-solves the refinement groups of ``sizes`` (b,), contiguous in ``order_x`` and
    ``order_y``: first the ``probe`` groups in front (all when 0), whose mean gain per pair
    estimates the whole sweep's; when that is at most ``refine_tol`` of the matching's mean
    cost ``total`` (normalised units) the sweep ends there, else the other groups follow.

    Returns ``(order_y, solved, gain_estimate)``: the new ``order_y``, the groups solved and
    the probe's estimate of the sweep's gain in normalised units (None without a probe)."""
    width = int(sizes.max())
    if not probe:
        return _solve_blocks(programs, plan, problem, order_x, order_y, sizes, width), \
            len(sizes), None
    before = order_y
    order_y = _solve_blocks(programs, plan, problem, order_x, order_y, sizes[:probe], width)
    at = int(sizes[:probe].sum())
    norm, cost = problem.norm, problem.cost
    estimate = (_matching_cost(norm, order_x[:at], before[:at], cost)
                - _matching_cost(norm, order_x[:at], order_y[:at], cost))
    if estimate <= problem.config.refine_tol * total:
        return order_y, probe, estimate
    order_y = _solve_blocks(programs, plan, problem, order_x, order_y, sizes[probe:], width,
                            offset=at)
    return order_y, len(sizes), estimate


def _diagnostics(plan, problem, timer) -> dict:
    """``Alignment.extra`` of a solve (see :class:`hiref.Alignment`)."""
    norm = problem.norm
    return {
        "leaf_solver": plan.leaf_solver,
        "split": "halfspace" if plan.halfspace_levels else "lowrank",
        "levels": timer.levels,
        "normalisation": {"shift": norm.shift.tolist(), "scale": norm.scale,
                          "cost_scale": norm.cost_scale, "cost_offset": norm.cost_offset},
        "dtype": plan.dtype.name,
    }


def _probe_pairs(norm, cost, rng, points=PROBE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """An exact matching of ``points`` x and y points drawn from ``rng`` (all, when fewer):
    their rows ``(probe_x, partner)``, each (p,), ``x[probe_x[i]]`` matched to
    ``y[partner[i]]``. It samples the transport map, so a first split that keeps its pairs
    together does not cut across the map."""
    n = norm.x.shape[0]
    p = min(n, points)
    probe_x = rng.choice(n, p, replace=False)
    probe_y = rng.choice(n, p, replace=False)
    if norm.matrix is None:
        block = costs.assignment_costs(norm.take(0, probe_x)[None], norm.take(1, probe_y)[None],
                                       cost)[0]
    else:
        block = norm.matrix[probe_x[:, None], probe_y[None, :]]
    return probe_x, probe_y[linear_sum_assignment(block)[1]]


def _candidate_start(first_level, problem, r, seed):
    """The start of the first split: ``config.top_restarts`` candidate splits from k-means++
    seeds run ``TRIAL_STEPS`` steps (the first level's compiled program); the one whose
    co-clusters keep together the most pairs of an exact matching of ``PROBE_POINTS``
    sampled x and y points (ties: the lower low-rank objective) wins, and the full split
    restarts from its seeds (the same uniforms, so it continues the judged candidate).
    Agreement with a matching, not the low-rank objective, decides, because the
    lowest-objective split can cut across the transport map.

    Returns ``(uniforms (1, r), agreement)``: the winner's k-means++ draws and a list of one
    agreement count per candidate."""
    norm, cost, config = problem.norm, problem.cost, problem.config
    n = norm.x.shape[0]
    rng = _rng(seed, _CANDIDATE_STREAM)
    probe_x, partner = _probe_pairs(norm, cost, rng)
    caps = _capacities(np.array([n]), r).astype(np.int32)
    idx, mask = _segment_arrays(np.array([n]), n)
    order = jax.device_put(np.arange(n, dtype=np.int32))
    scores, seeds = [], []
    for _ in range(config.top_restarts):
        seeds.append(_seed_uniforms(rng, 1, r).astype(norm.x.dtype))
        order_x, order_y, diag = first_level(
            problem.clouds, problem.matrix, order, order, idx, mask, caps, seeds[-1],
            _noise(rng, cost, config, n, 1, dtype=norm.x.dtype), problem.gamma,
            np.int32(TRIAL_STEPS))
        label_x = starts.labels_from_order(np.asarray(order_x), caps[0])
        label_y = starts.labels_from_order(np.asarray(order_y), caps[0])
        agree = int((label_x[probe_x] == label_y[partner]).sum())
        scores.append((-agree, float(np.asarray(diag.objective)[0])))
    best = min(range(len(scores)), key=scores.__getitem__)
    return seeds[best], [-score[0] for score in scores]


def _solve_blocks(programs, plan, problem, order_x, order_y, sizes, width, offset=0):
    """Exact assignment of every block (leaves or refinement groups) of ``sizes`` (b,),
    consecutive from position ``offset`` of the orders, padded to ``width`` on the device:
    the new ``order_y`` (positions outside the blocks unchanged)."""
    cost = problem.cost
    if plan.leaf_solver == "scipy":
        return leaves.solve_host(problem.norm, order_x, order_y, sizes,
                                 cost="sqeuclidean" if cost == "precomputed" else cost,
                                 threads=host.threads(problem.config.leaf_threads),
                                 offset=offset)
    idx, mask = _segment_arrays(sizes, width)
    idx += offset
    program = programs.leaves[len(sizes), width]
    return np.asarray(program(problem.clouds, problem.matrix, order_x.astype(np.int32),
                              order_y.astype(np.int32), idx, mask))


def _matching_cost(norm, order_x, order_y, cost) -> float:
    """Mean cost of the matching ``order_x[t] -> order_y[t]`` in normalised units (float64)."""
    n = len(order_x)
    if norm.matrix is not None:
        return float(norm.matrix[order_x, order_y].mean())
    return costs.weighted_pair_cost(functools.partial(norm.take_exact, 0),
                                    functools.partial(norm.take_exact, 1), order_x, order_y,
                                    np.full(n, 1.0 / n), 2 if cost == "sqeuclidean" else 1)


def _seed_uniforms(rng: np.random.Generator, blocks: int, r: int) -> np.ndarray:
    """The uniforms (blocks, r) of the k-means++ seeds of a level: centre ``k`` of every
    block, for ``k = 0, 1, ...`` in turn (see :func:`hiref.starts.kmeanspp`)."""
    return rng.random((r, blocks)).T


def _check_bijection(order_x: np.ndarray, order_y: np.ndarray, n: int) -> None:
    for name, order in (("x", order_x), ("y", order_y)):
        if len(order) != n or not np.all(np.bincount(order, minlength=n) == 1):
            raise RuntimeError(
                f"hiref internal error: the {name} side of the matching is not a permutation. "
                "Please report it with the input; HiRefConfig(leaf_solver='scipy') avoids the "
                "device assignment solver."
            )


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """The host generator of one random step: every random number of a solve is drawn on the
    host from ``seed``, a stream and an index (NumPy's ``SeedSequence``), so the device
    programs hold no PRNG and results do not depend on JAX's 64-bit mode."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index]))


def _noise(rng, cost, config, size, *lead, dtype):
    """Uniforms (*lead, 2, size) for sampled cost factors, or None where none are sampled."""
    if cost == "precomputed" or not lowrank.needs_noise(cost, size, config.cost_rank):
        return None
    return rng.random((*lead, 2, size)).astype(dtype)


def _schedule(n: int, config: HiRefConfig) -> list[int]:
    return solver_schedule(n, config.max_rank, config.max_leaf, config.depth, config.schedule)


def _segment_arrays(sizes: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of each block in the order arrays, padded to ``width`` (at least the largest
    size): idx (b, width) int32 and mask (b, width) bool (:func:`hiref.halfspace.segments`)."""
    idx, mask = halfspace.segments(sizes, width)
    return idx.astype(np.int32), mask


def _regroup(order: jax.Array, idx: jax.Array, mask: jax.Array, moved: jax.Array) -> jax.Array:
    """Rewrites each segment of ``order``: its t-th valid slot takes the element at block
    position ``moved[b, t]``."""
    source = jnp.take_along_axis(order[idx], moved, axis=1)
    target = jnp.where(mask, idx, order.shape[0])
    return order.at[target].set(source, mode="drop")


@functools.partial(jax.jit, static_argnames=("program", "batch"))
def _split_level(clouds, matrix, order_x, order_y, idx, mask, caps, uniforms, noise, gamma,
                 steps, *, program, batch):
    """One low-rank level: every block (padded to ``idx``, ``mask`` (b, s)) of the
    :class:`hiref.costs.Clouds` (or of the cost ``matrix``) split into the co-clusters of
    sizes ``caps`` (b, r) from the k-means++ seeds drawn at ``uniforms`` (b, r), with the
    ``noise`` (b, 2, s) or None, ``gamma``, ``steps`` and static ``program`` of
    :func:`hiref.lowrank.split`, ``batch`` blocks at once (see :func:`_level_layout`); returns
    the regrouped orders and the per-block :class:`hiref.lowrank.SplitDiagnostics` (each
    (b,))."""
    gx, gy = order_x[idx], order_y[idx]

    def split(block):
        rows, *rest = block
        cost_block = None if matrix is None else matrix[rows[0][:, None], rows[1][None, :]]
        return lowrank.split(clouds, rows, *rest, cost_block, steps, gamma, program=program)

    blocks = (jnp.stack([gx, gy], 1), mask, caps, uniforms, noise)
    if batch < idx.shape[0]:
        label_x, label_y, diag = jax.lax.map(split, blocks, batch_size=batch)
    else:
        label_x, label_y, diag = jax.vmap(split)(blocks)
    # A stable sort by label lays the co-clusters out as consecutive child segments.
    by_label_x = jnp.argsort(label_x, axis=1, stable=True)
    by_label_y = jnp.argsort(label_y, axis=1, stable=True)
    return (_regroup(order_x, idx, mask, by_label_x), _regroup(order_y, idx, mask, by_label_y),
            diag)


def _progress_printer(progress):
    if callable(progress):
        return progress
    if not progress:
        return lambda info: None

    def show(info):
        line = (f"hiref level {info['level']}: {info['blocks']} blocks of <= "
                f"{info['block_size']} points, rank {info['rank']}, {info['seconds']:.2f} s")
        if "objective" in info:
            line += f", {info.get('split', 'low-rank')} objective {info['objective']:.6g}"
        if "marginal_error" in info:  # low-rank levels; half-space halves are exact
            line += (f", marginal error {info['marginal_error']:.1e}, moved by rounding "
                     f"{100 * info['moved_share']:.2f} %")
        if "cost" in info:
            line += f", matching cost {info['cost']:.6g}"
        if "rounds" in info:
            line += f", {info['cycles']} cycles cancelled in {info['rounds']} rounds"
        print(line, file=sys.stderr, flush=True)

    return show
