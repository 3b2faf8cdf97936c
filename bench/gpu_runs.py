"""Workflow runs on a CUDA GPU without Snakemake: the stand-in solves a CPU leaves to a GPU.

The GPU machine has JAX with CUDA but neither Snakemake nor scanpy, so the runs are bundled
here and solved there, each exactly as the workflow's ``solve_ot`` job solves it:

    # here: each run's settings resolved as the workflow resolves them, its pair copied
    .venv/bin/python bench/gpu_runs.py bundle --to gpu_bundle -d <stand-in folder> \\
        --configfile config/config.yaml config/paper.yaml config/stand_in.yaml \\
        --runs merfish/merfish/hiref/84172 --embeddings imagenet/hiref/12810
    # on the GPU machine (bench/results/ by default)
    python3 bench/gpu_runs.py solve gpu_bundle --out bench/results/gpu_runs --seconds 540

``--runs`` names ``experiment/dataset/method/n`` of prepared pairs in the stand-in folder.
``--embeddings experiment/method/n`` names a run on a pair the GPU machine generates with the
ImageNet stand-in's generator (2n rows in 2048-D, split 50:50 as ``split_embeddings``): the
10.5 GB pair cannot travel, and a smaller one with the same last-level blocks measures their
rate (the authors' HiRef at n = 12810 has ImageNet's 1830-point rank-1830 blocks).

Each run starts as a GPU job (:func:`hiref.accelerator.start_jax_job`: it stops when JAX
sees no GPU) and calls :func:`hiref.records.solve_and_record`, in its own process so that its
peak device memory and its time limit are its own; the runs share ``--seconds`` in the order
given. Each writes the workflow's record (``<name>.json``, its ``seconds`` solver time after
compilation) and ``summary.json`` gains the run's status (``ok``, ``timeout`` or ``error``),
wall seconds, peak device memory and the tail of its log (the per-level progress), after
every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The ImageNet stand-in's generator settings for a generated pair (its 1000 classes).
EMBEDDING_CLASSES, EMBEDDING_DIM = 1000, 2048
#: Seconds kept back from a run's share for starting and ending its process.
MARGIN_SECONDS = 15


def load_config(configfiles: list[str]) -> tuple[dict, dict]:
    """The workflow's configuration from ``configfiles`` (merged as Snakemake merges them)
    with the schema's defaults filled in, and the schema."""
    import yaml
    from snakemake.utils import update_config

    from hiref import workflow_config

    config: dict = {}
    for path in configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    schema = workflow_config.load_schema(ROOT / "config" / "schema.yaml")
    workflow_config.validate(config, schema)
    return config, schema


def bundle(args) -> None:
    """Writes ``args.to``/plan.json and copies the prepared pairs of ``args.runs``."""
    from hiref import workflow_config

    config, schema = load_config(args.configfile)
    args.to.mkdir(parents=True, exist_ok=True)

    def entry(name, experiment, dataset, method, n, data):
        return {"name": f"{name}_{method}_n{n}", "experiment": experiment,
                "dataset": dataset, "method": method, "n": int(n), "data": data,
                "params": workflow_config.run_params(config, experiment, method, int(n), schema)}

    plan = []
    for spec in args.runs:
        experiment, dataset, method, n = spec.split("/")
        source = args.directory / "results" / "data" / f"{dataset}.npz"
        if not source.is_file():
            sys.exit(f"gpu_runs: {source} is missing: run the stand-in workflow up to it first")
        shutil.copyfile(source, args.to / source.name)
        plan.append(entry(f"{experiment}_{dataset}", experiment, dataset, method, n,
                          source.name))
    for spec in args.embeddings:
        experiment, method, n = spec.split("/")
        dataset = f"{experiment}_generated"
        plan.append(entry(dataset, experiment, dataset, method, n, None))
    (args.to / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    print(f"bundled {len(plan)} runs in {args.to}")


def generated_pair(folder: Path, n: int, seed: int) -> Path:
    """A pair of ``n`` + ``n`` ImageNet stand-in embeddings, written under ``folder``."""
    from hiref.datasets.embedding_split import split_file
    from hiref.datasets.stand_ins.imagenet import write_embeddings

    embeddings, pair = folder / f"embeddings_{2 * n}.npz", folder / f"generated_{n}.npz"
    if not pair.exists():
        write_embeddings(embeddings, rows=2 * n, classes=min(EMBEDDING_CLASSES, 2 * n),
                         dim=EMBEDDING_DIM, seed=seed, progress=lambda line: None)
        split_file(embeddings, pair, n_per_side=n, seed=seed, stand_in=True)
    return pair


def solve_one(run: dict, folder: Path, out: Path, work: Path, seed: int, gpus: int) -> None:
    """Child process: one run as the workflow's ``solve_ot`` job granted ``gpus`` GPUs; its
    record goes to ``out``, its matching and a generated pair to ``work``."""
    import jax

    from hiref import accelerator, records

    accelerator.start_jax_job(gpus)
    data = folder / run["data"] if run["data"] else generated_pair(work, run["n"], seed)
    records.solve_and_record(
        data=data, record=out / f"{run['name']}.json", matching=work / f"{run['name']}.npz",
        experiment=run["experiment"], dataset=run["dataset"], method=run["method"],
        params=run["params"], n=run["n"], seed=seed)
    stats = jax.devices()[0].memory_stats() or {}
    print(json.dumps({"peak_device_memory_mb": stats.get("peak_bytes_in_use", 0) / 2**20}))


def solve(args) -> None:
    """Solves every run of the bundle in turn, each in its own process, within ``seconds``."""
    plan = json.loads((args.bundle / "plan.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.seconds
    summary = []
    for run in plan:
        limit = deadline - time.monotonic() - MARGIN_SECONDS
        entry = ({"name": run["name"], "status": "not started: no time left"} if limit <= 0
                 else solve_in_child(run, args, limit))
        summary.append(entry)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{run['name']}: {entry['status']}, {entry.get('wall_seconds')} s wall, "
              f"W1 {entry.get('cost_p1')}, solver {entry.get('seconds')} s, compile "
              f"{entry.get('compile_seconds')} s, peak device memory "
              f"{entry.get('peak_device_memory_mb')} MiB", flush=True)


def solve_in_child(run: dict, args, limit: float) -> dict:
    """One run in its own process within ``limit`` seconds: its summary entry."""
    cmd = [sys.executable, __file__, "one", str(args.bundle), json.dumps(run), "--out",
           str(args.out), "--work", str(args.work), "--seed", str(args.seed), "--gpus",
           str(args.gpus)]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)
        status = "ok" if proc.returncode == 0 else f"error (exit {proc.returncode})"
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as stopped:
        status = f"timeout after {limit:.0f} s"
        stdout, stderr = (_text(stopped.stdout), _text(stopped.stderr))
    entry = {"name": run["name"], "status": status,
             "wall_seconds": round(time.monotonic() - start, 1),
             "log_tail": (stdout + stderr)[-4000:]}
    if status == "ok":
        entry.update(json.loads(stdout.strip().splitlines()[-1]))
        record = json.loads((args.out / f"{run['name']}.json").read_text())
        entry.update({key: record.get(key) for key in (
            "cost_p1", "seconds", "compile_seconds", "device", "stand_in")})
        entry["level_seconds"] = record.get("extra", {}).get("level_seconds")
    return entry


def _text(output) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    pack = steps.add_parser("bundle", help="resolve the runs and copy their pairs (here)")
    pack.add_argument("--to", type=Path, required=True)
    pack.add_argument("-d", "--directory", type=Path, required=True,
                      help="the stand-in run's working folder")
    pack.add_argument("--configfile", nargs="+", required=True)
    pack.add_argument("--runs", nargs="*", default=[], help="experiment/dataset/method/n")
    pack.add_argument("--embeddings", nargs="*", default=[], help="experiment/method/n")
    run = steps.add_parser("solve", help="solve the bundle's runs (on the GPU machine)")
    run.add_argument("bundle", type=Path)
    run.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_runs")
    run.add_argument("--work", type=Path, default=Path("/tmp/gpu_runs"),
                     help="matchings and generated pairs (large; not results)")
    run.add_argument("--seconds", type=float, default=540.0,
                     help="time for all runs together, shared in their order")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--gpus", type=int, default=1,
                     help="GPUs each run is granted; 0 runs on the CPU (the tests)")
    one = steps.add_parser("one")  # child process of `solve`
    one.add_argument("bundle", type=Path)
    one.add_argument("run")
    one.add_argument("--out", type=Path, required=True)
    one.add_argument("--work", type=Path, required=True)
    one.add_argument("--seed", type=int, required=True)
    one.add_argument("--gpus", type=int, required=True)
    args = parser.parse_args()
    if args.step == "bundle":
        bundle(args)
    elif args.step == "solve":
        solve(args)
    else:
        solve_one(json.loads(args.run), args.bundle, args.out, args.work, args.seed,
                  args.gpus)


if __name__ == "__main__":
    main()
