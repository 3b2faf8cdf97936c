"""The jobs of a sharded workflow run (rules/shard.smk, docs/cluster.md "Sharded HiRef
runs"): the first levels writing the manifest and one block file per block job, a block job
writing its result, and the gather writing the run's record and ``.npz`` as ``solve_ot``
does (:func:`hiref.records.write_run`).

Every file is written atomically (a killed job leaves none), and each job refuses a file
written for other settings, seed or inputs, naming it (:mod:`hiref.shard`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hiref import provenance, records, shard
from hiref.config import HiRefConfig
from hiref.methods.hierarchical import alignment_result
from hiref.provenance import log
from hiref.settings import from_params


def block_file(blocks_dir, job: int) -> Path:
    """The block file of block job ``job`` in the first levels' ``blocks_dir``."""
    return Path(blocks_dir) / f"job{job}.npz"


def first_levels(*, data, split, blocks_dir, params, levels, blocks_per_job, n, seed) -> None:
    """Runs the first ``levels`` levels of the run's solve; writes one block file per job of
    ``blocks_per_job`` blocks into ``blocks_dir``, then the manifest ``split``."""
    x, y = records.load_run_data(data, n, seed)
    parts = shard.split(x, y, levels=levels, cost=params["cost"],
                        config=from_params(HiRefConfig, params), seed=seed,
                        progress=lambda info: log(f"hiref {info}"))
    jobs = shard.job_blocks(parts.block_count, blocks_per_job)
    Path(blocks_dir).mkdir(parents=True, exist_ok=True)
    for job, indices in enumerate(jobs):
        parts.blocks(indices).save(block_file(blocks_dir, job))
    # The job's peak once the block files are cut too (each job's points copied in turn).
    parts = dataclasses.replace(parts, peak_rss_mb=provenance.peak_rss_mb())
    log(f"{parts.block_count} blocks in {len(jobs)} block files, first levels in "
        f"{parts.seconds:.2f} s (compilation {parts.compile_seconds:.2f} s), peak RSS "
        f"{parts.peak_rss_mb:.0f} MiB")
    parts.save(split)


def block(*, split, blocks_dir, result, params, levels, seed, job) -> None:
    """Solves block job ``job``'s blocks; writes its ``result`` file."""
    manifest = _manifest(split, params, seed, levels)
    blocks = shard.load_blocks(block_file(blocks_dir, job), manifest.fingerprint)
    solved = shard.solve_blocks(blocks, progress=lambda info: log(f"hiref {info}"))
    log(f"blocks {blocks.indices.tolist()} solved in {solved.seconds:.2f} s (compilation "
        f"{solved.compile_seconds:.2f} s), peak RSS {solved.peak_rss_mb:.0f} MiB")
    solved.save(result)


def gather(*, data, split, results, record, matching, experiment, dataset, method, params,
           levels, blocks_per_job, n, seed) -> None:
    """Merges the block results; writes the run's record and ``.npz``. The record's
    ``seconds`` are the total solver seconds of every job, ``peak_rss_mb`` the largest
    job's; ``extra.shard`` gives each job's and the critical path's seconds."""
    t0 = time.perf_counter()
    manifest = _manifest(split, params, seed, levels)
    solved = [shard.load_result(path, manifest.fingerprint) for path in results]
    x, y = records.load_run_data(data, n, seed)
    align = shard.merge(x, y, manifest, solved, progress=lambda info: log(f"hiref {info}"))
    result = alignment_result(align)
    result.params = params
    result.extra["shard"]["blocks_per_job"] = blocks_per_job
    jobs = result.extra["shard"]
    gather_peak = provenance.peak_rss_mb()
    jobs["merge"]["peak_rss_mb"] = gather_peak
    peak = max([jobs["first_levels"]["peak_rss_mb"], gather_peak,
                *(r["peak_rss_mb"] for r in jobs["block_results"])])
    log(f"{method}: merged {jobs['blocks']} blocks of {jobs['block_jobs']} jobs: solver "
        f"{align.seconds:.2f} s in all, critical path {jobs['critical_path_seconds']:.2f} s, "
        f"largest job peak RSS {peak:.0f} MiB, W1 {align.cost_p1:.6g}, W2 {align.cost_p2:.6g}")
    records.write_run(result, data=data, record=record, matching=matching,
                      experiment=experiment, dataset=dataset, method=method, params=params,
                      n=n, d=int(x.shape[1]), seed=seed, wall_seconds=time.perf_counter() - t0,
                      peak_rss_mb=peak)


def _manifest(split, params, seed, levels) -> shard.Split:
    """The manifest, refused (naming it) when written for other settings or seed."""
    config = from_params(HiRefConfig, params)
    return shard.load_split(split, settings=shard.settings_digest(params["cost"], config, seed,
                                                                  levels))
