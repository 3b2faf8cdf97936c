"""Hierarchical Refinement split across jobs: the first ``levels`` low-rank levels of a solve in
one job, the blocks they leave solved on their own (one block or a list of blocks per job),
and the blocks' results merged into the global bijection.

After its first levels HiRef's blocks are independent sub-problems, so a solve too large for
one node's memory or wall time can be spread over cluster jobs::

    parts = hiref.shard.split(x, y, levels=1, cost="sqeuclidean", config=config, seed=0)
    results = [hiref.shard.solve_blocks(parts.blocks(job))
               for job in hiref.shard.job_blocks(parts.block_count, 4)]
    out = hiref.shard.merge(x, y, parts, results)     # an hiref.Alignment

Each step runs the functions of :func:`hiref.solve` (:mod:`hiref.solver`): the first levels
and the candidate first splits as there; each block's deeper levels and leaves with the random
numbers the whole solve draws for it, padded as in the whole solve; ``merge`` then scores the
leaves, runs the refinement sweeps (their groups straddle the blocks, so they run over all
the pairs, as in ``hiref.solve``) and checks the bijection. ``|X| != |Y|`` is solved as
``hiref.solve`` solves it: blocks of the repeated clouds (``rows // repeat`` are the points).

Equality with ``hiref.solve``: the same computation except for the batch: a level program
runs over a job's blocks instead of all the level's blocks at once, and XLA's batched
programs can round differently for another number of blocks (by about one unit in the last
place). The merged result is therefore the single solve's up to such roundings: equal cost
within float32 tolerance, and most often the same permutation (docs/solver.md, "Sharded
solves").

Files (``.npz``, written atomically, refused on read naming the file when corrupt or written
for other settings, seed or inputs): :meth:`Split.save` (the manifest), :meth:`Blocks.save`
(a job's blocks), :meth:`BlockResult.save`; read with :func:`load_split`, :func:`load_blocks`,
:func:`load_result`. Their keys are documented in docs/solver.md.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np

from hiref import costs, provenance, solver, validation
from hiref.config import Alignment, HiRefConfig
from hiref.datasets.npz_stream import NpzWriter, read_member
from hiref.seeds import check_seed

#: Written into every shard file; a file of another format version is refused.
FORMAT = "hiref-shard-1"
#: Members of a block file read in place into aligned memory (the solver then uses them
#: without a copy, :func:`hiref.costs.for_device`): the block job's points, most of its memory.
_POINT_MEMBERS = ("points_x", "points_y", "sources_x", "sources_y")


@dataclass(frozen=True)
class Gathered:
    """Rows ``rows`` (S,) of ``array`` (N, d), gathered when used: a chunk of rows at a time
    when written to a shard file, whole when read as an array (``np.asarray``). The job that
    cuts the block files holds the whole clouds; gathering each file's points at once would
    add a copy of them (a quarter of ImageNet's pair for a fourth of the blocks)."""

    array: np.ndarray
    rows: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.array.shape[1:])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.take(self.array, self.rows, axis=0).astype(dtype or self.array.dtype,
                                                              copy=False)

    def write(self, out: NpzWriter, name: str) -> None:
        """Writes the rows as member ``name`` of ``out``, a chunk of rows at a time."""
        with out.rows(name, self.shape, self.array.dtype) as write:
            for begin, end in costs.row_chunks(len(self.rows), self.array.shape[1]):
                write(np.take(self.array, self.rows[begin:end], axis=0))



def settings_digest(cost: str, config: HiRefConfig, seed: int, levels: int) -> str:
    """Hex digest of the settings a sharded solve depends on (``config`` as given to
    :func:`split`)."""
    text = json.dumps({"format": FORMAT, "cost": cost, "config": config.to_dict(),
                       "seed": check_seed(seed), "levels": levels}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def inputs_digest(x: np.ndarray, y: np.ndarray) -> str:
    """Hex digest of the two clouds' shapes, dtypes and bytes, read a chunk of rows at a
    time (``hiref.costs.HOST_CHUNK`` entries)."""
    digest = hashlib.blake2b(digest_size=16)
    for cloud in (x, y):
        digest.update(f"{cloud.shape} {cloud.dtype.str};".encode())
        for begin, end in costs.row_chunks(*cloud.shape):
            digest.update(np.ascontiguousarray(cloud[begin:end]).tobytes())
    return digest.hexdigest()


def _fingerprint(settings: str, inputs: str) -> str:
    return f"{settings}-{inputs}"


@dataclass(frozen=True)
class Split:
    """A solve after its first ``levels`` low-rank levels (what :func:`split` returns and a
    manifest file holds).

    Attributes:
      fingerprint: ``<settings digest>-<inputs digest>`` (:func:`settings_digest`,
        :func:`inputs_digest`); every block and result of this split carries it.
      cost, config, seed, levels: the settings (``config`` as given, before the expansion
        of ``|X| != |Y|``).
      n, m: sizes of x and y; rep_x, rep_y: their repetitions (1 when ``n == m``).
      dtype: the device float type of the solve.
      order_x, order_y: (N,) int64 rows of the repeated clouds (``N = n rep_x``) after the
        first levels; the blocks are their consecutive segments of ``block_sizes`` (B,).
      level_info: the first levels' diagnostics (as in ``Alignment.extra["levels"]``).
      seconds, compile_seconds, peak_rss_mb: of the first levels' job.
      points, draws: in memory only (None in a split read from its manifest): the normalised
        clouds and the deeper levels' random numbers (for all blocks), which :meth:`blocks`
        cuts.
    """

    fingerprint: str
    cost: str
    config: HiRefConfig
    seed: int
    levels: int
    n: int
    m: int
    rep_x: int
    rep_y: int
    dtype: str
    order_x: np.ndarray
    order_y: np.ndarray
    block_sizes: np.ndarray
    level_info: list[dict]
    seconds: float
    compile_seconds: float
    peak_rss_mb: float
    points: costs.Normalised | None = field(default=None, repr=False, compare=False)
    draws: list | None = field(default=None, repr=False, compare=False)

    @property
    def block_count(self) -> int:
        """Number of blocks after the first levels."""
        return len(self.block_sizes)

    def blocks(self, indices) -> Blocks:
        """The blocks ``indices`` (ints in ``[0, block_count)``, any order, no repeats) as one
        job solves them: their points and random numbers. Needs the split in memory (the
        job that ran :func:`split`)."""
        if self.points is None:
            raise ValueError("this split was read from its manifest, which holds no points; "
                             "cut blocks in the job that ran hiref.shard.split")
        indices = _check_indices(indices, self.block_count)
        plan = _plan(self)
        rows = np.concatenate([self.order_x[s] for s in _segments(self.block_sizes, indices)])
        cols = np.concatenate([self.order_y[s] for s in _segments(self.block_sizes, indices)])
        norm = self.points
        selectors = _subtree_selectors(plan, self.levels, indices)
        return Blocks(
            fingerprint=self.fingerprint, cost=self.cost, config=self.config, seed=self.seed,
            levels=self.levels, n=self.n, m=self.m, rep_x=self.rep_x, rep_y=self.rep_y,
            dtype=self.dtype, indices=indices,
            rows_x=rows, rows_y=cols,
            points_x=Gathered(norm.x, rows), points_y=Gathered(norm.y, cols),
            # The caller's values, which exact leaves read (the stored points in the read form).
            sources=None if norm.read else (Gathered(norm.sources[0], rows),
                                            Gathered(norm.sources[1], cols)),
            normalisation=(norm.offset, norm.inv_scale, norm.shift, norm.scale,
                           norm.cost_scale, norm.cost_offset),
            uniforms=[u[s] for (u, _), s in zip(self.draws, selectors)],
            noise=[None if z is None else z[s] for (_, z), s in zip(self.draws, selectors)],
        )

    def save(self, path) -> None:
        """Writes the manifest (everything but ``points`` and ``draws``) atomically."""
        meta = {"fingerprint": self.fingerprint, "cost": self.cost,
                "config": self.config.to_dict(), "seed": self.seed, "levels": self.levels,
                "n": self.n, "m": self.m, "rep_x": self.rep_x, "rep_y": self.rep_y,
                "dtype": self.dtype, "level_info": self.level_info, "seconds": self.seconds,
                "compile_seconds": self.compile_seconds, "peak_rss_mb": self.peak_rss_mb}
        _save(path, "split", meta, {"order_x": self.order_x, "order_y": self.order_y,
                                    "block_sizes": self.block_sizes})


@dataclass(frozen=True)
class Blocks:
    """Blocks of a split that one job solves (:meth:`Split.blocks`; a block file).

    Attributes:
      fingerprint, cost, config, seed, levels, dtype: the split's.
      n, m, rep_x, rep_y: the split's sizes and repetitions.
      indices: (c,) int64 the blocks' numbers among the split's blocks.
      rows_x, rows_y: (S,) int64 rows of the repeated clouds, the blocks' segments one after
        the other (x row ``rows_x[t] // rep_x``, y row ``rows_y[t] // rep_y``).
      points_x, points_y: (S, d) the stored points of those rows (see
        :class:`hiref.costs.Normalised`), in the solve's dtype: arrays when read from a block
        file, :class:`Gathered` rows of the split's points when cut from a split.
      sources: the caller's points (S, d) of those rows, any real dtype, which exact leaves
        read (:meth:`hiref.costs.Normalised.take_exact`), as arrays or :class:`Gathered`;
        None where the stored points hold them (the read form).
      normalisation: (offset, inv_scale, shift, scale, cost_scale, cost_offset) of the
        whole solve's :class:`hiref.costs.Normalised`.
      uniforms, noise: per deeper level, the k-means++ uniforms (b, r) and the sampled
        factors' noise (b, 2, width) or None of the blocks' sub-blocks (b of them).
    """

    fingerprint: str
    cost: str
    config: HiRefConfig
    seed: int
    levels: int
    n: int
    m: int
    rep_x: int
    rep_y: int
    dtype: str
    indices: np.ndarray
    rows_x: np.ndarray
    rows_y: np.ndarray
    points_x: np.ndarray | Gathered
    points_y: np.ndarray | Gathered
    sources: tuple[np.ndarray | Gathered, np.ndarray | Gathered] | None
    normalisation: tuple
    uniforms: list
    noise: list

    def save(self, path) -> None:
        """Writes the block file atomically."""
        offset, inv_scale, shift, scale, cost_scale, cost_offset = self.normalisation
        meta = {"fingerprint": self.fingerprint, "cost": self.cost,
                "config": self.config.to_dict(), "seed": self.seed, "levels": self.levels,
                "n": self.n, "m": self.m, "rep_x": self.rep_x, "rep_y": self.rep_y,
                "dtype": self.dtype, "scale": scale,
                "cost_scale": cost_scale, "cost_offset": cost_offset,
                "noise": [z is not None for z in self.noise]}
        arrays = {"indices": self.indices, "rows_x": self.rows_x, "rows_y": self.rows_y,
                  "points_x": self.points_x, "points_y": self.points_y, "offset": offset,
                  "inv_scale": inv_scale, "shift": shift}
        if self.sources is not None:
            arrays["sources_x"], arrays["sources_y"] = self.sources
        for t, (u, z) in enumerate(zip(self.uniforms, self.noise)):
            arrays[f"uniforms_{t}"] = u
            if z is not None:
                arrays[f"noise_{t}"] = z
        _save(path, "blocks", meta, arrays)


@dataclass(frozen=True)
class BlockResult:
    """What :func:`solve_blocks` returns for a job's blocks (a result file).

    Attributes:
      fingerprint: the split's; indices: (c,) the blocks solved.
      order_x, order_y: (S,) int64 rows of the repeated clouds, ``order_x[t]`` matched to
        ``order_y[t]``, the blocks one after the other in ``indices`` order.
      objective, marginal_error, moved: per deeper level, the per-sub-block
        :class:`hiref.lowrank.SplitDiagnostics` ((b,) each).
      level_seconds: seconds of each deeper level, then of the leaves.
      seconds, compile_seconds, peak_rss_mb: of the job (peak: of its process, when done).
    """

    fingerprint: str
    indices: np.ndarray
    order_x: np.ndarray
    order_y: np.ndarray
    objective: list
    marginal_error: list
    moved: list
    level_seconds: list[float]
    seconds: float
    compile_seconds: float
    peak_rss_mb: float

    def save(self, path) -> None:
        """Writes the result file atomically."""
        meta = {"fingerprint": self.fingerprint, "level_seconds": self.level_seconds,
                "seconds": self.seconds, "compile_seconds": self.compile_seconds,
                "peak_rss_mb": self.peak_rss_mb, "deeper_levels": len(self.objective)}
        arrays = {"indices": self.indices, "order_x": self.order_x, "order_y": self.order_y}
        for t in range(len(self.objective)):
            arrays[f"objective_{t}"] = self.objective[t]
            arrays[f"marginal_error_{t}"] = self.marginal_error[t]
            arrays[f"moved_{t}"] = self.moved[t]
        _save(path, "result", meta, arrays)


def split(x, y, *, levels: int, cost: str = "sqeuclidean", config: HiRefConfig | None = None,
          seed: int = 0, progress=None) -> Split:
    """Runs the first ``levels`` low-rank levels of ``hiref.solve(x, y, cost=cost,
    config=config, seed=seed)`` (the arguments as there; point clouds only, no cost matrix).
    Sharded solves always take low-rank levels: with ``split="auto"`` in 2-D their result is
    that of ``hiref.solve`` with ``split="lowrank"``; ``split="halfspace"`` is refused.

    ``levels`` is at least 1 and at most the number of low-rank levels of the solve's
    schedule (then the blocks are its leaves). Returns the :class:`Split` in memory, from
    which :meth:`Split.blocks` cuts each job's blocks.
    """
    config = HiRefConfig() if config is None else config
    validation.check_config(config)
    validation.check_cost_name(cost)
    if not isinstance(cost, str):
        raise ValueError(  # noqa: TRY004 (every bad argument is a ValueError)
            "hiref.shard takes point clouds and a cost name, not a cost matrix: "
                         "a problem small enough for a cost matrix needs no sharding; use "
                         "hiref.solve.")
    if config.split == "halfspace":
        raise ValueError(
            "hiref.shard runs low-rank levels in separate jobs; HiRefConfig(split='halfspace') "
            "has none (its levels run on the host in one process): use hiref.solve, or "
            "split='lowrank' (or 'auto', which shards with low-rank levels)."
        )
    config = config.replace(max_leaf=config.leaf_limit("lowrank"))
    seed = check_seed(seed)
    report = solver._progress_printer(validation.check_progress(progress))
    x = validation.as_points(x, "x")
    y = validation.as_points(y, "y")
    validation.check_pair(x, y)
    n, m = len(x), len(y)
    rep_x, rep_y = solver._repetitions(n, m, config)
    expanded = solver._expanded(config, rep_x, rep_y)
    size = n * rep_x
    plan = solver._make_plan(size, expanded, solver.work_dtype(x, y))
    check_levels(levels, len(plan.schedule) - 1, plan.schedule)
    first = plan.replace(level_sizes=plan.level_sizes[:levels],
                         level_widths=plan.level_widths[:levels],
                         leaf_sizes=np.zeros(0, int), group_sizes=np.zeros(0, int))
    fingerprint = _fingerprint(settings_digest(cost, config, seed, levels), inputs_digest(x, y))
    xs, ys = solver._repeat(x, rep_x, 0), solver._repeat(y, rep_y, 0)
    programs, compile_seconds = solver._compile(first, size, x.shape[1], False, cost, expanded)
    start = time.perf_counter()
    problem = solver._problem(xs, ys, None, cost, plan.dtype, expanded)
    timer = solver._Timer(report)
    order = np.arange(size, dtype=np.int32)
    order_x, order_y = solver._split_levels(programs, first, problem, order, order,
                                            solver._solve_draws(programs, first, problem, seed),
                                            solver._level_reporter(first, problem, timer))
    deeper = [solver._level_draws(seed, level, len(sizes), width, r, cost, expanded, plan.dtype)
              for level, (sizes, width, r) in enumerate(
                  zip(plan.level_sizes, plan.level_widths, plan.ranks)) if level >= levels]
    sizes = plan.level_sizes[levels] if levels < len(plan.level_sizes) else plan.leaf_sizes
    return Split(
        fingerprint=fingerprint, cost=cost, config=config, seed=seed, levels=levels, n=n, m=m,
        rep_x=rep_x, rep_y=rep_y, dtype=plan.dtype.name,
        order_x=np.asarray(order_x).astype(np.int64), order_y=np.asarray(order_y).astype(np.int64),
        block_sizes=np.asarray(sizes, np.int64), level_info=timer.levels,
        seconds=time.perf_counter() - start, compile_seconds=compile_seconds,
        peak_rss_mb=provenance.peak_rss_mb(), points=problem.norm, draws=deeper,
    )


def check_levels(levels, available: int, schedule) -> None:
    """Raises ``ValueError`` unless ``levels`` is an integer in ``[1, available]`` (the
    low-rank levels of ``schedule``)."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        raise ValueError(f"levels must be an integer, got {levels!r}")  # noqa: TRY004
    if not 1 <= levels <= available:
        raise ValueError(
            f"levels = {levels}: the schedule {list(schedule)} has {available} low-rank "
            f"level(s) before its leaves; shard after 1 to {available} of them"
            if available else
            f"levels = {levels}: the schedule {list(schedule)} has no low-rank level (the "
            "problem is one leaf); solve it with hiref.solve, unsharded")


def job_blocks(count: int, per_job: int) -> list[list[int]]:
    """The blocks ``0 .. count-1`` in consecutive lists of at most ``per_job``: one list per
    job."""
    return [list(range(k, min(k + per_job, count))) for k in range(0, count, per_job)]


def solve_blocks(blocks: Blocks, progress=None) -> BlockResult:
    """Solves a job's blocks: their deeper low-rank levels and their leaves, all the blocks
    of a level at once, exactly as ``hiref.solve`` does for them (see the module docstring
    for the batch)."""
    report = solver._progress_printer(validation.check_progress(progress))
    expanded, plan = _block_plan(blocks)
    size, d = blocks.points_x.shape
    programs, compile_seconds = solver._compile(plan, size, d, False, blocks.cost, expanded)
    start = time.perf_counter()
    offset, inv_scale, shift, scale, cost_scale, cost_offset = blocks.normalisation
    points = (costs.for_device(np.asarray(blocks.points_x)),
              costs.for_device(np.asarray(blocks.points_y)))
    sources = None if blocks.sources is None else tuple(np.asarray(s) for s in blocks.sources)
    norm = costs.Normalised(*points, offset, inv_scale, None, shift, scale, cost_scale,
                            cost_offset, sources=sources or points, read=sources is None)
    problem = solver._on_device(norm, blocks.cost, plan.dtype, expanded)
    diagnostics, seconds = [], []

    def finished(t, diag, info, started):
        diagnostics.append(diag)
        seconds.append(time.perf_counter() - started)
        report({"level": plan.first_level + t + 1, "blocks": len(plan.level_sizes[t]),
                "block_size": int(plan.level_sizes[t].max()), "rank": plan.ranks[t],
                "seconds": seconds[-1]})

    order = np.arange(size, dtype=np.int32)
    order_x, order_y = solver._split_levels(
        programs, plan, problem, order, order,
        lambda t, sizes: (blocks.uniforms[t], blocks.noise[t], {}), finished)
    started = time.perf_counter()
    order_x, order_y = np.asarray(order_x), np.asarray(order_y)
    order_y = solver._solve_blocks(programs, plan, problem, order_x, order_y, plan.leaf_sizes,
                                   plan.leaf_width)
    seconds.append(time.perf_counter() - started)
    report({"level": "leaf", "blocks": len(plan.leaf_sizes), "block_size": plan.leaf_width,
            "rank": plan.leaf_width, "seconds": seconds[-1]})
    return BlockResult(
        fingerprint=blocks.fingerprint, indices=blocks.indices,
        order_x=blocks.rows_x[order_x], order_y=blocks.rows_y[order_y],
        objective=[np.asarray(g.objective) for g in diagnostics],
        marginal_error=[np.asarray(g.marginal_error) for g in diagnostics],
        moved=[np.asarray(g.moved) for g in diagnostics],
        level_seconds=seconds, seconds=time.perf_counter() - start,
        compile_seconds=compile_seconds, peak_rss_mb=provenance.peak_rss_mb(),
    )


def merge(x, y, parts: Split, results: list[BlockResult], progress=None) -> Alignment:
    """The :class:`hiref.Alignment` of ``x`` and ``y`` from the split ``parts`` and the
    results of all its blocks (each exactly once, in any order, from any number of jobs):
    the leaves scored, the refinement sweeps run over all the pairs and the bijection
    checked, as in ``hiref.solve``.

    ``Alignment.seconds`` is the total solver seconds of every job (first levels, blocks,
    merge); ``extra["shard"]`` gives each job's seconds and peak memory and the critical
    path's seconds (first levels, then the slowest block job, then the merge).
    """
    report = solver._progress_printer(validation.check_progress(progress))
    x = validation.as_points(x, "x")
    y = validation.as_points(y, "y")
    validation.check_pair(x, y)
    inputs = inputs_digest(x, y)
    if parts.fingerprint.split("-")[1] != inputs:
        raise ValueError("hiref.shard.merge: x and y are not the clouds the split was run on "
                         "(their digest differs); merge with the same inputs, or split again")
    for result in results:
        if result.fingerprint != parts.fingerprint:
            raise ValueError(f"hiref.shard.merge: the result of blocks {_listed(result.indices)}"
                             " belongs to another split (other settings, seed or inputs)")
    indices = np.concatenate([r.indices for r in results]) if results else np.zeros(0, int)
    _check_cover(indices, parts.block_count)
    expanded = solver._expanded(parts.config, parts.rep_x, parts.rep_y)
    plan = _plan(parts)
    order_x, order_y = parts.order_x.copy(), parts.order_y.copy()
    for result in results:
        placed = np.concatenate([np.arange(s.start, s.stop)
                                 for s in _segments(parts.block_sizes, result.indices)])
        order_x[placed], order_y[placed] = result.order_x, result.order_y

    finish = plan.replace(level_sizes=[], level_widths=[], leaf_sizes=np.zeros(0, int))
    programs, compile_seconds = solver._compile(finish, len(order_x), x.shape[1], False,
                                                parts.cost, expanded)
    start = time.perf_counter()
    problem = solver._problem(solver._repeat(x, parts.rep_x, 0),
                              solver._repeat(y, parts.rep_y, 0), None, parts.cost, plan.dtype,
                              expanded)
    timer = solver._Timer(report)
    for info in parts.level_info:
        timer.levels.append(info)
        timer.seconds.append(info["seconds"])
    for t in range(len(plan.level_sizes) - parts.levels):
        level = parts.levels + t
        diag = _gathered(plan, parts.levels, results, t)
        info = solver._level_info(level, plan.ranks[level], plan.level_sizes[level], diag, {},
                                  len(order_x), problem.norm)
        timer.add(info, sum(r.level_seconds[t] for r in results))
    leaf_seconds = sum(r.level_seconds[-1] for r in results)
    order_x, order_y = solver._finish(programs, plan, problem, order_x, order_y, parts.seed,
                                      timer, time.perf_counter() - leaf_seconds)
    merge_seconds = time.perf_counter() - start
    extra = solver._diagnostics(plan, problem, timer)
    block_seconds = [r.seconds for r in results]
    extra["shard"] = {
        "levels": parts.levels, "blocks": parts.block_count, "block_jobs": len(results),
        "first_levels": {"seconds": parts.seconds, "compile_seconds": parts.compile_seconds,
                         "peak_rss_mb": parts.peak_rss_mb},
        "block_results": [{"blocks": _listed(r.indices), "seconds": r.seconds,
                           "compile_seconds": r.compile_seconds, "peak_rss_mb": r.peak_rss_mb}
                          for r in results],
        "merge": {"seconds": merge_seconds, "compile_seconds": compile_seconds},
        "critical_path_seconds": parts.seconds + max(block_seconds, default=0.0)
        + merge_seconds,
    }
    match = solver._Match(
        order_x, order_y, plan.schedule, timer.seconds,
        parts.seconds + sum(block_seconds) + merge_seconds,
        parts.compile_seconds + sum(r.compile_seconds for r in results) + compile_seconds,
        extra)
    return solver._alignment(x, y, None, match, parts.rep_x, parts.rep_y, parts.config,
                             parts.cost)


def _plan(parts) -> solver._Plan:
    """The whole solve's plan for a split or blocks (``parts``), in their dtype; raises
    ``ValueError`` when this process would run another dtype (JAX's 64-bit mode)."""
    expanded = solver._expanded(parts.config, parts.rep_x, parts.rep_y)
    plan = solver._make_plan(parts.n * parts.rep_x, expanded, np.dtype(parts.dtype))
    if plan.dtype.name != parts.dtype:
        raise ValueError(f"the split ran in {parts.dtype}, this process would run in "
                         f"{plan.dtype.name}: set JAX's 64-bit mode as in the split's job")
    return plan


def _block_plan(blocks: Blocks) -> tuple[HiRefConfig, solver._Plan]:
    """The expanded settings and the plan of a job's blocks: the whole solve's deeper
    levels and leaves restricted to the blocks' sub-blocks, padded as in the whole solve."""
    expanded = solver._expanded(blocks.config, blocks.rep_x, blocks.rep_y)
    whole = _plan(blocks)
    selectors = _subtree_selectors(whole, blocks.levels, blocks.indices)
    return expanded, whole.replace(
        level_sizes=[s[sel] for s, sel in zip(whole.level_sizes[blocks.levels:], selectors)],
        level_widths=whole.level_widths[blocks.levels:], first_level=blocks.levels,
        leaf_sizes=whole.leaf_sizes[selectors[-1]], group_sizes=np.zeros(0, int), halvings=0)


def _subtree_selectors(plan, levels: int, indices: np.ndarray) -> list[np.ndarray]:
    """For each low-rank level from ``levels`` on, then for the leaves: the positions among
    that level's blocks of the sub-blocks of the blocks ``indices`` (after ``levels``
    levels), block by block. A block's sub-blocks ``t`` levels deeper are consecutive, ``R``
    of them, ``R`` the product of the ranks between."""
    out, fan = [], 1
    for r in [*plan.schedule[levels:-1], None]:
        out.append((indices[:, None] * fan + np.arange(fan)[None, :]).ravel())
        fan *= r or 1
    return out


def _segments(sizes: np.ndarray, indices) -> list[slice]:
    """The positions (slices of the orders) of the blocks ``indices`` of ``sizes``."""
    starts = np.cumsum(sizes) - sizes
    return [slice(int(starts[j]), int(starts[j] + sizes[j])) for j in indices]


def _check_indices(indices, count: int) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer) or not len(indices):
        raise ValueError(f"blocks are given as a non-empty list of integers, got {indices!r}")
    if indices.min() < 0 or indices.max() >= count:
        raise ValueError(f"block numbers run from 0 to {count - 1}, got {_listed(indices)}")
    if len(np.unique(indices)) != len(indices):
        raise ValueError(f"a block is listed twice in {_listed(indices)}")
    return indices.astype(np.int64)


def _check_cover(indices: np.ndarray, count: int) -> None:
    """Every block ``0 .. count-1`` exactly once among the results' ``indices``."""
    inside = (indices >= 0) & (indices < count)
    seen = np.bincount(indices[inside].astype(np.int64), minlength=count)
    missing, twice, outside = np.flatnonzero(seen == 0), np.flatnonzero(seen > 1), indices[~inside]
    if len(missing) or len(twice) or len(outside):
        raise ValueError(
            f"hiref.shard.merge needs the result of each of the {count} blocks exactly once: "
            + "; ".join(f"{what} {_listed(which)}" for what, which in (
                ("missing", missing), ("given twice", twice), ("not a block", outside))
                if len(which)))


def _listed(indices) -> str:
    indices = [int(i) for i in indices]
    shown = ", ".join(map(str, indices[:10]))
    return f"[{shown}{', ...' if len(indices) > 10 else ''}]"


def _gathered(plan, levels: int, results: list[BlockResult], t: int) -> solver.lowrank.SplitDiagnostics:
    """The per-block diagnostics of the deeper level ``t`` (``levels + t`` of the schedule),
    for all the level's blocks in order, from the results."""
    count = len(plan.level_sizes[levels + t])
    parts = {name: np.zeros(count, np.asarray(getattr(results[0], name)[t]).dtype)
             for name in ("objective", "marginal_error", "moved")}
    for result in results:
        where = _subtree_selectors(plan, levels, result.indices)[t]
        for name, values in parts.items():
            values[where] = getattr(result, name)[t]
    return solver.lowrank.SplitDiagnostics(**parts)


# ----------------------------------------------------------------------------- files

_KINDS = {"split": "manifest", "blocks": "block file", "result": "block result file"}


def _save(path, kind: str, meta: dict, arrays: dict) -> None:
    """Writes a shard file atomically: an uncompressed ``.npz`` as ``np.savez`` writes it,
    :class:`Gathered` members a chunk of rows at a time."""
    members = {"format": np.asarray(FORMAT), "kind": np.asarray(kind),
               "meta": np.asarray(json.dumps(meta)), **arrays}
    with provenance.atomic_path(path) as tmp, NpzWriter(tmp) as out:
        for name, value in members.items():
            if isinstance(value, Gathered):
                value.write(out, name)
            else:
                out.add(name, value)


def _load(path, kind: str, fingerprint: str | None) -> tuple[dict, dict]:
    """The meta and arrays of a shard file of ``kind``; ``ValueError`` naming the file when it
    is unreadable, of another kind or format, or (``fingerprint`` given) written for other
    settings, seed or inputs. The point members (``_POINT_MEMBERS``) are read in place into
    aligned memory."""
    what = _KINDS[kind]

    def unreadable(err):
        return ValueError(f"{path}: not a readable {what} ({type(err).__name__}: {err}); "
                          "delete it and rerun the job that writes it")

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files if key not in _POINT_MEMBERS}
            in_place = [key for key in _POINT_MEMBERS if key in data.files]
        meta = json.loads(str(arrays.pop("meta")))
        found = (str(arrays.pop("format")), str(arrays.pop("kind")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise unreadable(err) from err
    if found != (FORMAT, kind):
        raise ValueError(f"{path}: a {found[1]!r} file of format {found[0]!r}, not a {what} "
                         f"of format {FORMAT!r}; rerun the job that writes it")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path}: this {what} was written by a sharded solve with other settings, seed or "
            f"inputs (fingerprint {meta.get('fingerprint')}, expected {fingerprint}); delete "
            "it and rerun the job that writes it")
    # The points last: a stale or foreign file is refused before gigabytes are read.
    try:
        arrays.update((key, read_member(path, key)) for key in in_place)
    except (OSError, ValueError) as err:
        raise unreadable(err) from err
    return meta, arrays


def load_split(path, *, settings: str | None = None) -> Split:
    """Reads a manifest; with ``settings`` (a :func:`settings_digest`) refuses one written
    for other settings or seed, naming the file."""
    meta, arrays = _load(path, "split", None)
    if settings is not None and meta["fingerprint"].split("-")[0] != settings:
        raise ValueError(
            f"{path}: this manifest was written by a sharded solve with other settings or seed "
            f"(settings digest {meta['fingerprint'].split('-')[0]}, expected {settings}); delete "
            "it and rerun the first levels")
    return Split(
        fingerprint=meta["fingerprint"], cost=meta["cost"], config=_config(meta["config"]),
        seed=meta["seed"], levels=meta["levels"], n=meta["n"], m=meta["m"],
        rep_x=meta["rep_x"], rep_y=meta["rep_y"], dtype=meta["dtype"],
        order_x=arrays["order_x"], order_y=arrays["order_y"],
        block_sizes=arrays["block_sizes"], level_info=meta["level_info"],
        seconds=meta["seconds"], compile_seconds=meta["compile_seconds"],
        peak_rss_mb=meta["peak_rss_mb"])


def load_blocks(path, fingerprint: str) -> Blocks:
    """Reads a block file written for the split of ``fingerprint`` (else ``ValueError``
    naming the file)."""
    meta, arrays = _load(path, "blocks", fingerprint)
    return Blocks(
        fingerprint=meta["fingerprint"], cost=meta["cost"], config=_config(meta["config"]),
        seed=meta["seed"], levels=meta["levels"], n=meta["n"], m=meta["m"],
        rep_x=meta["rep_x"], rep_y=meta["rep_y"], dtype=meta["dtype"],
        indices=arrays["indices"], rows_x=arrays["rows_x"], rows_y=arrays["rows_y"],
        points_x=arrays["points_x"], points_y=arrays["points_y"],
        sources=((arrays["sources_x"], arrays["sources_y"]) if "sources_x" in arrays
                 else None),
        normalisation=(arrays["offset"], arrays["inv_scale"], arrays["shift"], meta["scale"],
                       meta["cost_scale"], meta["cost_offset"]),
        uniforms=[arrays[f"uniforms_{t}"] for t in range(len(meta["noise"]))],
        noise=[arrays[f"noise_{t}"] if sampled else None
               for t, sampled in enumerate(meta["noise"])],
    )


def load_result(path, fingerprint: str) -> BlockResult:
    """Reads a block result file of the split of ``fingerprint`` (else ``ValueError``
    naming the file)."""
    meta, arrays = _load(path, "result", fingerprint)
    deeper = range(meta["deeper_levels"])
    return BlockResult(
        fingerprint=meta["fingerprint"], indices=arrays["indices"], order_x=arrays["order_x"],
        order_y=arrays["order_y"],
        objective=[arrays[f"objective_{t}"] for t in deeper],
        marginal_error=[arrays[f"marginal_error_{t}"] for t in deeper],
        moved=[arrays[f"moved_{t}"] for t in deeper], level_seconds=meta["level_seconds"],
        seconds=meta["seconds"], compile_seconds=meta["compile_seconds"],
        peak_rss_mb=meta["peak_rss_mb"])


def _config(values: dict) -> HiRefConfig:
    return HiRefConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
