"""hiref.shard: a solve split after its first levels, its blocks solved apart and merged,
equals hiref.solve (with low-rank levels, which sharded solves take); its files round-trip
and are refused when stale or corrupt."""

import numpy as np
import pytest

import hiref
from hiref import shard
from hiref.datasets import synthetic


def pair(n, m, seed=1):
    x, _ = synthetic.halfmoon_scurve(n, seed=seed)
    _, y = synthetic.halfmoon_scurve(m, seed=seed + 1)
    return x, y


def sharded(x, y, *, levels, per_job, cost, config, seed):
    parts = shard.split(x, y, levels=levels, cost=cost, config=config, seed=seed)
    jobs = shard.job_blocks(parts.block_count, per_job)
    # Results in another order than the blocks: the merge places each by its indices.
    results = [shard.solve_blocks(parts.blocks(job)) for job in reversed(jobs)]
    return parts, shard.merge(x, y, parts, results)


def diagnostics(out):
    return [{k: v for k, v in level.items() if k != "seconds"} for level in out.extra["levels"]]


@pytest.mark.parametrize("n, m, cost, leaf, refine_sweeps, per_job", [
    (1024, 1024, "sqeuclidean", 64, 1, 3),   # schedule [16, 64]: the blocks are the leaves
    (600, 400, "sqeuclidean", 32, 1, 4),     # |X| != |Y|: lcm 1200, schedule [15, 80]
])
def test_sharded_at_the_leaves_is_the_single_solve_bit_for_bit(n, m, cost, leaf, refine_sweeps,
                                                               per_job):
    # Sharding after the last low-rank level leaves only the leaves to the block jobs, which
    # SciPy solves block by block: the same computation, so the same bits.
    x, y = pair(n, m)
    config = hiref.HiRefConfig(split="lowrank", max_leaf=leaf, refine_sweeps=refine_sweeps, leaf_solver="scipy")
    one = hiref.solve(x, y, cost=cost, config=config, seed=3)
    parts, out = sharded(x, y, levels=len(one.schedule) - 1, per_job=per_job, cost=cost,
                         config=config, seed=3)
    assert parts.block_count == int(np.prod(one.schedule[:-1]))
    for ours, theirs in zip(out.coupling, one.coupling):
        np.testing.assert_array_equal(ours, theirs)
    assert out.cost_p1 == one.cost_p1 and out.cost_p2 == one.cost_p2
    assert diagnostics(out) == diagnostics(one)
    assert out.extra["shard"]["block_jobs"] == -(-parts.block_count // per_job)


@pytest.mark.parametrize("n, m, cost", [
    (2048, 2048, "sqeuclidean"),    # schedule [2, 16, 64]: a level in every block job
    (750, 500, "euclidean"),        # |X| != |Y|: lcm 1500, schedule [5, 5, 60]
])
def test_sharded_before_deeper_levels_equals_the_single_solve_within_rounding(n, m, cost):
    # Block jobs run a level over fewer blocks at once than the single solve, and XLA may
    # round a batched program differently for another batch: the same solve up to float32
    # rounding (measured: the same permutation in most cases, costs within 1e-5).
    x, y = pair(n, m)
    config = hiref.HiRefConfig(split="lowrank", max_leaf=64 if n == m else 20, refine_sweeps=1)
    one = hiref.solve(x, y, cost=cost, config=config, seed=5)
    assert len(one.schedule) == 3
    _, out = sharded(x, y, levels=1, per_job=1, cost=cost, config=config, seed=5)
    assert out.cost_p2 == pytest.approx(one.cost_p2, rel=1e-4)
    assert out.cost_p1 == pytest.approx(one.cost_p1, rel=1e-4)
    rows, cols, weights = out.coupling
    assert np.allclose(np.bincount(rows, weights, minlength=n), 1 / n)
    assert np.allclose(np.bincount(cols, weights, minlength=m), 1 / m)
    for ours, theirs in zip(diagnostics(out), diagnostics(one)):
        assert ours.keys() == theirs.keys()
        for key in ("objective", "cost"):
            if key in ours:
                assert ours[key] == pytest.approx(theirs[key], rel=1e-4)
    shares = out.extra["shard"]
    assert out.seconds == pytest.approx(
        shares["first_levels"]["seconds"] + sum(r["seconds"] for r in shares["block_results"])
        + shares["merge"]["seconds"])
    assert shares["critical_path_seconds"] <= out.seconds + 1e-9


def test_files_round_trip_and_merge_as_in_memory(tmp_path):
    x, y = pair(1024, 1024)
    config = hiref.HiRefConfig(split="lowrank", max_leaf=16, refine_sweeps=1)   # schedule [4, 16, 16]
    parts = shard.split(x, y, levels=1, cost="sqeuclidean", config=config, seed=2)
    parts.save(tmp_path / "split.npz")
    manifest = shard.load_split(tmp_path / "split.npz",
                                settings=shard.settings_digest("sqeuclidean", config, 2, 1))
    results = []
    for k, job in enumerate(shard.job_blocks(parts.block_count, 2)):
        parts.blocks(job).save(tmp_path / f"blocks{k}.npz")
        blocks = shard.load_blocks(tmp_path / f"blocks{k}.npz", manifest.fingerprint)
        shard.solve_blocks(blocks).save(tmp_path / f"result{k}.npz")
        results.append(shard.load_result(tmp_path / f"result{k}.npz", manifest.fingerprint))
    from_files = shard.merge(x, y, manifest, results)
    in_memory = shard.merge(x, y, parts, [shard.solve_blocks(parts.blocks(job))
                                          for job in shard.job_blocks(parts.block_count, 2)])
    np.testing.assert_array_equal(from_files.perm, in_memory.perm)
    assert diagnostics(from_files) == diagnostics(in_memory)


def test_block_jobs_read_the_callers_points_for_exact_leaves(tmp_path):
    # Float64 clouds far from the origin are stored normalised in float32 (the copy form);
    # exact leaves read the caller's float64 points, which the block files carry.
    x, y = pair(1024, 1024)
    x, y = x.astype(np.float64) + 1e8, y.astype(np.float64) + 1e8
    config = hiref.HiRefConfig(split="lowrank", max_leaf=64, refine_sweeps=1, leaf_solver="scipy")
    one = hiref.solve(x, y, config=config, seed=3)
    parts = shard.split(x, y, levels=len(one.schedule) - 1, cost="sqeuclidean",
                        config=config, seed=3)
    assert not parts.points.read
    results = []
    for k, job in enumerate(shard.job_blocks(parts.block_count, 5)):
        parts.blocks(job).save(tmp_path / f"blocks{k}.npz")
        blocks = shard.load_blocks(tmp_path / f"blocks{k}.npz", parts.fingerprint)
        assert blocks.sources[0].dtype == np.float64
        results.append(shard.solve_blocks(blocks))
    out = shard.merge(x, y, parts, results)
    np.testing.assert_array_equal(out.perm, one.perm)
    assert out.cost_p2 == one.cost_p2


def test_stale_corrupt_or_incomplete_shards_are_refused(tmp_path):
    x, y = pair(512, 512)
    config = hiref.HiRefConfig(split="lowrank", max_leaf=32, refine_sweeps=0)
    parts = shard.split(x, y, levels=1, cost="sqeuclidean", config=config, seed=0)
    other = shard.split(x, y, levels=1, cost="sqeuclidean", config=config, seed=1)
    other.blocks([0]).save(tmp_path / "stale.npz")
    with pytest.raises(ValueError, match=r"stale\.npz.*other settings, seed or inputs"):
        shard.load_blocks(tmp_path / "stale.npz", parts.fingerprint)
    parts.save(tmp_path / "split.npz")
    with pytest.raises(ValueError, match=r"split\.npz.*other settings or seed"):
        shard.load_split(tmp_path / "split.npz",
                         settings=shard.settings_digest("sqeuclidean", config, 1, 1))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "split.npz").read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.npz: not a readable manifest"):
        shard.load_split(tmp_path / "cut.npz")
    with pytest.raises(ValueError, match=r"split\.npz: a 'split' file .* not a block file"):
        shard.load_blocks(tmp_path / "split.npz", parts.fingerprint)

    results = [shard.solve_blocks(parts.blocks([j])) for j in range(parts.block_count)]
    with pytest.raises(ValueError, match=r"missing \[3\]"):
        shard.merge(x, y, parts, results[:3] + results[4:])
    with pytest.raises(ValueError, match="belongs to another split"):
        shard.merge(x, y, parts, [shard.solve_blocks(other.blocks([0]))] + results[1:])
    with pytest.raises(ValueError, match="not the clouds the split was run on"):
        shard.merge(x, y[::-1], parts, results)


def test_levels_outside_the_schedule_are_refused():
    x, y = pair(512, 512)
    config = hiref.HiRefConfig(split="lowrank", max_leaf=32)
    with pytest.raises(ValueError, match=r"levels = 3: the schedule \[16, 32\] has 1 low-rank"):
        shard.split(x, y, levels=3, config=config)
    with pytest.raises(ValueError, match="levels = 0"):
        shard.split(x, y, levels=0, config=config)
    with pytest.raises(ValueError, match="no low-rank level"):
        shard.split(x[:20], y[:20], levels=1, config=config)


def test_a_job_killed_while_writing_leaves_no_file(tmp_path, monkeypatch):
    x, y = pair(512, 512)
    parts = shard.split(x, y, levels=1, config=hiref.HiRefConfig(split="lowrank", max_leaf=32), seed=0)
    result = shard.solve_blocks(parts.blocks([0, 1]))

    def killed(writer, name, array):
        writer._zip.fp.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt  # what SIGINT raises; SIGKILL leaves only the hidden temp file

    monkeypatch.setattr(shard.NpzWriter, "add", killed)
    for name, written in (("blocks.npz", parts.blocks([0])), ("result.npz", result),
                          ("split.npz", parts)):
        with pytest.raises(KeyboardInterrupt):
            written.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_block_files_are_cut_and_read_without_copies_of_their_points(tmp_path, monkeypatch):
    """The first-levels job holds the whole clouds: a block file's points are gathered a
    chunk of rows at a time while written, not copied whole first. A block job reads them
    into aligned memory, which the solver uses in place (no second copy)."""
    import tracemalloc

    from hiref import costs

    rng = np.random.default_rng(0)
    n, d = 4096, 512
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.standard_normal((n, d)).astype(np.float32) + 0.5
    parts = shard.split(x, y, levels=1, config=hiref.HiRefConfig(schedule=(2, 16)), seed=0)
    monkeypatch.setattr(costs, "HOST_CHUNK", 1 << 16)  # chunks of 128 rows (256 KiB)
    tracemalloc.start()
    parts.blocks([0]).save(tmp_path / "blocks.npz")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    blocks = parts.blocks([0])
    points_bytes = 2 * blocks.points_x.shape[0] * d * 4  # both sides, 8 MiB here
    assert peak < points_bytes / 2, (peak, points_bytes)
    read = shard.load_blocks(tmp_path / "blocks.npz", parts.fingerprint)
    np.testing.assert_array_equal(read.points_x, np.asarray(blocks.points_x))
    np.testing.assert_array_equal(read.points_y, np.asarray(blocks.points_y))
    assert costs.usable_in_place(read.points_x) and costs.usable_in_place(read.points_y)
