"""The SLURM profile against stand-in SLURM commands: every kind of job is submitted with the
partition, GPUs, CPUs, memory and wall time it needs, small runs are packed into a few
submissions, and light steps stay on the submitting machine."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEFAULT_CONFIG, ROOT, run_snakemake

from hiref import resources

STANDIN = Path(__file__).parent / "slurm_standin" / "slurm_standin.py"
COMMANDS = ("sbatch", "sacct", "squeue", "scontrol", "sinfo", "sacctmgr", "sshare", "scancel")
PROFILE = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
PARTITIONS = yaml.safe_load((ROOT / "profiles/slurm/partitions.yaml").read_text())["partitions"]
CPU_PARTITION, GPU_PARTITION = sorted(PARTITIONS, key=lambda p: PARTITIONS[p]["max_gpu"])
BIG = 2**20
ROUTING = {
    "run": ["routing"],
    "experiments": {
        "routing": {
            # n = 1024: small runs (grouped); 2^20: a JAX and a host run of their own, and
            # Sinkhorn and exact beyond their max_n (skipped: grouped, no GPU).
            "datasets": ["halfmoon_scurve"],
            "n": [1024, BIG],
            "seeds": [0],
            "methods": ["hiref", "sinkhorn", "exact", "bspot"],
        },
        # Not in `run`: its two block jobs are asked for by name (schedule [2, 16, 16, 16,
        # 128] at 2^20, so one level leaves 2 blocks), their inputs made beforehand.
        "sharded": {
            "datasets": ["halfmoon_scurve"],
            "n": [BIG],
            "seeds": [0],
            "methods": ["hiref_refined"],
            "shard": {"levels": 1, "blocks_per_job": 1},
        },
    },
    "figures": {"runtime_scaling": None, "alignment": None},
}
MOSTA_BYTES = b"a raw file retrieved through a file:// URL"
BASE = {"mem": 4000, "runtime": 5, "threads": 4}  # config/schema.yaml resources defaults


def sbatch_options(args: list[str]) -> dict:
    """`sbatch` arguments -> {option: value} (flags without a value map to True)."""
    options, pending = {}, None
    for arg in args:
        if pending:
            options[pending], pending = arg, None
        elif arg.startswith("--wrap="):
            options["--wrap"] = arg.removeprefix("--wrap=")
        elif "=" in arg and arg.startswith("--"):
            key, value = arg.split("=", 1)
            options[key] = value
        elif arg in ("-A", "-p", "-t", "--mem", "--job-name", "--output", "--comment", "-D"):
            pending = arg
        else:
            options[arg] = True
    return options


@pytest.fixture(scope="module")
def slurm_work(tmp_path_factory):
    return tmp_path_factory.mktemp("slurm")


@pytest.fixture(scope="module")
def submissions(slurm_work):
    """One `snakemake --profile profiles/slurm` run in `slurm_work`; returns {comment: sbatch
    options}. Prepared data exist, so every solver job is ready in the first round."""
    tmp = slurm_work.parent / f"{slurm_work.name}_tools"
    tmp.mkdir()
    bin_dir, work = tmp / "bin", slurm_work
    bin_dir.mkdir()
    for command in COMMANDS:
        (bin_dir / command).symlink_to(STANDIN)
    for n in (1024, BIG):
        data = work / f"results/data/synthetic/halfmoon_scurve/n{n}_seed0.npz"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_bytes(b"")  # never read: no job runs
    shards = work / f"results/shards/sharded/halfmoon_scurve/hiref_refined/n{BIG}_seed0"
    (shards / "blocks").mkdir(parents=True)
    (shards / "split.npz").write_bytes(b"")  # never read: no job runs
    (work / "images").mkdir()
    (work / "weights.pth").write_bytes(b"")
    mosta = tmp / "E9.5.h5ad"
    mosta.write_bytes(MOSTA_BYTES)
    ROUTING["data"] = {
        "coco": {"images": "images"}, "weights": {"path": "weights.pth"},
        "mosta": {"url": f"{tmp.as_uri()}/{{stage}}.h5ad",
                  "checksums": {"E9.5": "sha256:" + hashlib.sha256(MOSTA_BYTES).hexdigest()}},
    }
    (work / "routing.yaml").write_text(yaml.safe_dump(ROUTING))
    log = tmp / "sbatch.jsonl"
    env = {
        # The stand-ins first; this interpreter's folder for Snakemake's own tools.
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "SLURM_STANDIN_LOG": str(log),
        "SLURM_STANDIN_ACCOUNT": PROFILE["default-resources"]["slurm_account"],
    }
    targets = [
        "results/tables/routing.csv",
        "results/data/synthetic/moons_rings/n1024_seed0.npz",  # a simulate_points job
        "results/embeddings/coco.npz",  # an embed_images job
        "resources/mosta/E9.5_E1S1.MOSTA.h5ad",  # a retrieve job (local)
        *(f"{shards.relative_to(work)}/result{job}.npz" for job in (0, 1)),  # block jobs
    ]
    proc = run_snakemake(
        *targets, "--profile", str(ROOT / "profiles/slurm"), "--configfile",
        str(DEFAULT_CONFIG), "routing.yaml", "--slurm-init-seconds-before-status-checks", "1",
        "--latency-wait", "0", "--retries", "0", "--keep-going", workdir=work, env=env,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert log.exists(), output[-4000:]
    jobs = [json.loads(line) for line in log.read_text().splitlines()]
    return {sbatch_options(job["args"])["--comment"]: sbatch_options(job["args"]) for job in jobs}


def solver(method: str, n: int) -> str:
    return f"rule_solve_ot_wildcards_routing_halfmoon_scurve_{method}_{n}_0"


def test_every_submission_asks_for_memory_and_time(submissions):
    for comment, opts in submissions.items():
        assert int(opts["--mem"]) > 0 and int(opts["-t"]) > 0, comment


def test_a_handful_of_submissions(submissions):
    # 2 large runs, the small JAX group, the small host group (skipped runs included),
    # the simulate group, the embedding job and 2 block jobs of a sharded run; nothing else
    # (tables are built locally).
    assert len(submissions) == 8, sorted(submissions)
    assert all(opts["-A"] == PROFILE["default-resources"]["slurm_account"]
               for opts in submissions.values())


def test_large_jax_run_gets_a_gpu_node(submissions):
    opts = submissions[solver("hiref", BIG)]
    assert opts["-p"] == GPU_PARTITION and opts["--gpus"] == "1"
    assert opts["--cpus-per-task"] == str(BASE["threads"])
    assert int(opts["--mem"]) == resources.solver_mem_mb("hiref", BIG, 2, 1, BASE["mem"])
    assert int(opts["-t"]) == resources.solver_runtime("hiref", BIG, 2, 1, BASE["runtime"])


def test_block_jobs_of_a_sharded_run_are_sized_by_their_blocks(submissions):
    blocks = [opts for comment, opts in submissions.items()
              if comment.startswith("rule_shard_block_")]
    assert len(blocks) == 2
    for opts in blocks:
        assert opts["-p"] == GPU_PARTITION and opts["--gpus"] == "1"
        assert int(opts["--mem"]) == resources.solver_mem_mb("hiref_refined", BIG // 2, 2, 1,
                                                            BASE["mem"])
        assert int(opts["-t"]) == resources.solver_runtime("hiref_refined", BIG // 2, 2, 1,
                                                          BASE["runtime"])


def test_large_host_run_gets_a_cpu_node_without_gpu(submissions):
    opts = submissions[solver("bspot", BIG)]
    assert opts["-p"] == CPU_PARTITION and "--gpus" not in opts and "--gres" not in opts
    assert opts["--cpus-per-task"] == "1"
    assert int(opts["--mem"]) == resources.solver_mem_mb("bspot", BIG, 2, 1, BASE["mem"])
    assert int(opts["-t"]) == resources.solver_runtime("bspot", BIG, 2, 1, BASE["runtime"])


def group(submissions, name):
    (opts,) = [o for c, o in submissions.items() if c.startswith(f"rule_{name}_")]
    return opts


def test_small_jax_runs_share_one_gpu_submission(submissions):
    opts = group(submissions, "small_jax")
    assert opts["-p"] == GPU_PARTITION and opts["--gpus"] == "1"
    for method in ("hiref", "sinkhorn"):
        assert f"method={method},n=1024" in opts["--wrap"]
    # One GPU per submission: the runs take turns, so their wall times add up.
    times = [resources.solver_runtime(m, 1024, 2, 1, BASE["runtime"]) for m in ("hiref",
                                                                                  "sinkhorn")]
    assert int(opts["-t"]) == sum(times)


def test_small_host_runs_and_skipped_runs_share_one_cpu_submission(submissions):
    opts = group(submissions, "small_host")
    assert opts["-p"] == CPU_PARTITION and "--gpus" not in opts
    wrap = opts["--wrap"]
    for method, n in (("exact", 1024), ("bspot", 1024), ("sinkhorn", BIG), ("exact", BIG)):
        assert f"method={method},n={n}" in wrap, (method, n)
    # The four fit side by side in one node slice of the profile (at most `cores` CPUs and
    # resources.mem_mb): one CPU each, their memory added; the skipped runs ask for the least.
    assert int(opts["--cpus-per-task"]) == 4 <= PROFILE["cores"]
    memory = [resources.solver_mem_mb(m, 1024, 2, 1, BASE["mem"]) for m in ("exact", "bspot")]
    assert int(opts["--mem"]) == sum(memory) + 2 * resources.SKIPPED_MEM_MB
    assert int(opts["--mem"]) <= PROFILE["resources"]["mem_mb"]


def test_simulation_and_embedding_jobs(submissions):
    simulate = group(submissions, "simulate")
    assert simulate["-p"] == CPU_PARTITION and "--gpus" not in simulate
    embed = submissions["rule_embed_images_wildcards_coco"]
    assert embed["-p"] == GPU_PARTITION and embed["--gpus"] == "1"
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    schema_default = 32000  # data.embedding.mem_mb
    assert int(embed["--mem"]) == config.get("data", {}).get("embedding", {}).get(
        "mem_mb", schema_default)


def test_retry_asks_for_more():
    for method in ("hiref", "exact", "sinkhorn"):
        first = resources.solver_mem_mb(method, 4096, 2, 1, BASE["mem"])
        assert resources.solver_mem_mb(method, 4096, 2, 2, BASE["mem"]) == 2 * first
        assert resources.solver_runtime(method, 4096, 2, 3, BASE["runtime"]) == 3 * (
            resources.solver_runtime(method, 4096, 2, 1, BASE["runtime"]))
    # Dense methods grow as n^2, the hierarchical one linearly.
    assert math.isclose(
        resources.solver_mem_mb("sinkhorn", 2**15, 2, 1, 0)
        / resources.solver_mem_mb("sinkhorn", 2**14, 2, 1, 0), 4, rel_tol=0.01)
    assert math.isclose(
        resources.solver_mem_mb("hiref", 2**21, 2, 1, 0)
        / resources.solver_mem_mb("hiref", 2**20, 2, 1, 0), 2, rel_tol=0.01)


def test_downloads_run_where_snakemake_runs(submissions, slurm_work):
    """`retrieve` is a local rule (nodes often have no internet): it ran in Snakemake's own
    process during the SLURM run, and no submission names it."""
    assert (slurm_work / "resources/mosta/E9.5_E1S1.MOSTA.h5ad").read_bytes() == MOSTA_BYTES
    assert not any("retrieve" in comment for comment in submissions)
