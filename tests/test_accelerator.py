"""Jobs that hold a GPU use it or stop; JAX jobs of the workflow multiply float32 matrices at
full precision (no TF32 on A100/H100)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
import yaml
from conftest import ROOT, run_snakemake

from hiref import accelerator


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_message_names_every_fix(framework):
    message = accelerator.gpu_problem(1, 0, framework)
    assert f"{framework} sees none" in message
    assert "--resources gpu=0" in message and "resources: {gpu: 0}" in message
    assert accelerator.INSTALL_HINT[framework] in message
    assert accelerator.gpu_problem(0, 0, framework) is None  # CPU-only, knowingly
    assert accelerator.gpu_problem(1, 1, framework) is None  # the GPU is there


def test_require_gpu_on_this_machine():
    visible = accelerator.jax_gpus()
    accelerator.require_gpu(0, visible, "jax")  # nothing granted: nothing to check
    if visible:
        accelerator.require_gpu(1, visible, "jax")
    else:
        with pytest.raises(accelerator.NoGPUError, match="--resources gpu=0"):
            accelerator.require_gpu(1, visible, "jax")


@pytest.fixture
def jax_settings_restored(tmp_path, monkeypatch):
    """Runs a test in ``tmp_path`` and gives JAX back the settings the test changes."""
    monkeypatch.chdir(tmp_path)
    saved = {name: getattr(jax.config, name)
             for name in ("jax_default_matmul_precision", "jax_compilation_cache_dir",
                          "jax_persistent_cache_min_compile_time_secs")}
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


@pytest.mark.usefixtures("jax_settings_restored")
def test_a_jax_job_starts_with_the_gpu_check_and_logs_its_precision(capsys):
    if accelerator.jax_gpus() == 0:
        with pytest.raises(accelerator.NoGPUError, match="--resources gpu=0"):
            accelerator.start_jax_job(1)
    assert accelerator.start_jax_job(0) == "highest"
    assert "JAX float32 matmul precision: highest" in capsys.readouterr().err


@pytest.mark.usefixtures("jax_settings_restored")
def test_workflow_matmuls_run_at_highest_precision(tmp_path):
    assert accelerator.configure_jax() == "highest"
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # every program enters the cache
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / ".snakemake/jax-cache")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
    a = jnp.ones((8, 8), jnp.float32)
    program = jax.jit(lambda u, v: u @ v).lower(a, a).as_text()
    assert "precision = [HIGHEST, HIGHEST]" in program


@pytest.mark.skipif(accelerator.jax_gpus() > 0, reason="this machine has a GPU")
def test_job_granted_a_gpu_stops_when_jax_sees_none(tmp_path):
    """`--resources gpu=1` on a machine whose JAX has no GPU: the JAX job stops at once with
    the fix, before loading data or compiling."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({
        "run": ["tiny"],
        "experiments": {"tiny": {"datasets": ["halfmoon_scurve"], "n": [32],
                                 "methods": ["hiref"]}},
        "figures": {"runtime_scaling": None, "alignment": None},
    }))
    proc = run_snakemake("--configfile", "tiny.yaml", "--cores", "2", "--resources", "gpu=1",
                         workdir=tmp_path)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr  # the script's traceback, as the user sees it
    assert "NoGPUError: this job holds 1 GPU(s)" in output and "--resources gpu=0" in output
    assert not (tmp_path / "results/runs/tiny/halfmoon_scurve/hiref/n32_seed0.json").exists()


@pytest.mark.skipif(accelerator.jax_gpus() > 0, reason="this machine has a GPU")
def test_gpu_check_says_why_it_cannot_run_here(tmp_path):
    """`make gpu-check` on a CPU-only machine: a clear message, status 2, nothing measured."""
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--out",
                           str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "JAX sees no GPU" in proc.stderr and "nothing was measured" in proc.stderr
    assert "pip install -e '.[gpu]'" in proc.stderr and not out.exists()


def test_gpu_check_smoke_runs_its_tiny_problems_on_any_device(tmp_path):
    """`bench/gpu_check.py --smoke`: the same code on tiny versions of the problems (leaves
    of 1024 points among them, which take potentials), one record each."""
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--smoke",
                           "--out", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["smoke"] and [run["name"] for run in result["runs"]] == [
        "halfmoon_2d_2^20", "halfmoon_2d_2^17_leaf2048", "imagenet_shaped"]
    for run in result["runs"]:
        assert run["cost_p2"] > 0 and run["warm_seconds"] > 0
    assert result["runs"][1]["schedule_used"] == [2, 1024]


GPU_RUNS = [sys.executable, str(ROOT / "bench" / "gpu_runs.py")]
CONFIGS = [str(ROOT / "config" / name) for name in ("config.yaml", "paper.yaml", "stand_in.yaml")]


def test_gpu_runs_bundle_the_workflows_settings_and_pairs(tmp_path):
    """`bench/gpu_runs.py bundle`: each run's settings resolved as the workflow's `solve_ot`
    job resolves them, its prepared pair copied beside them."""
    from hiref import workflow_config
    from hiref.datasets import save_pair

    folder = tmp_path / "standins"
    (folder / "results" / "data").mkdir(parents=True)
    save_pair(folder / "results" / "data" / "merfish.npz", [[0.0, 0.0]], [[1.0, 1.0]])
    subprocess.run([*GPU_RUNS, "bundle", "--to", str(tmp_path / "bundle"), "-d", str(folder),
                    "--configfile", *CONFIGS, "--runs", "merfish/merfish/hiref/84172",
                    "--embeddings", "imagenet/frlc/12810"], check=True, capture_output=True)
    plan = json.loads((tmp_path / "bundle" / "plan.json").read_text())
    # paper.yaml and stand_in.yaml change no setting of this run
    schema = workflow_config.load_schema(ROOT / "config" / "schema.yaml")
    config = yaml.safe_load(Path(CONFIGS[0]).read_text())
    workflow_config.validate(config, schema)
    assert [run["name"] for run in plan] == ["merfish_merfish_hiref_n84172",
                                             "imagenet_generated_frlc_n12810"]
    assert plan[0]["params"] == workflow_config.run_params(config, "merfish", "hiref", 84172,
                                                           schema)
    assert plan[0]["params"]["max_q"] == 4096 and plan[1]["params"]["rank"] == 40
    assert plan[0]["data"] == "merfish.npz" and plan[1]["data"] is None
    assert (tmp_path / "bundle" / "merfish.npz").read_bytes() == (
        folder / "results" / "data" / "merfish.npz").read_bytes()
    missing = subprocess.run([*GPU_RUNS, "bundle", "--to", str(tmp_path / "b2"), "-d",
                              str(tmp_path), "--configfile", *CONFIGS, "--runs",
                              "mosta/mosta_E9.5_E10.5/hiref/5913"], capture_output=True,
                             text=True, check=False)
    assert missing.returncode != 0 and "mosta_E9.5_E10.5.npz is missing" in missing.stderr


def test_gpu_runs_solve_as_the_workflow_and_stop_without_a_gpu(tmp_path):
    """`bench/gpu_runs.py solve`: a run on a generated ImageNet-like pair writes the workflow's
    record; granted a GPU that JAX cannot see, it stops with the GPU message (nothing runs on
    the CPU instead); runs with no time left are not started."""
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    subprocess.run([*GPU_RUNS, "bundle", "--to", str(bundle), "-d", str(tmp_path),
                    "--configfile", *CONFIGS, "--embeddings", "imagenet/hiref_refined/64"],
                   check=True, capture_output=True)
    solve = [*GPU_RUNS, "solve", str(bundle), "--out", str(out), "--work", str(tmp_path / "w")]
    subprocess.run([*solve, "--gpus", "0"], check=True, capture_output=True)
    [entry] = json.loads((out / "summary.json").read_text())
    record = json.loads((out / "imagenet_generated_hiref_refined_n64.json").read_text())
    assert entry["status"] == "ok" and entry["stand_in"] is True
    assert record["status"] == "ok" and record["d"] == 2048 and record["n"] == 64
    assert entry["seconds"] == record["seconds"] and entry["cost_p1"] == record["cost_p1"] > 0
    if accelerator.jax_gpus() == 0:
        subprocess.run([*solve, "--gpus", "1"], check=True, capture_output=True)
        [entry] = json.loads((out / "summary.json").read_text())
        assert entry["status"].startswith("error") and "NoGPUError" in entry["log_tail"]
    subprocess.run([*solve, "--seconds", "5"], check=True, capture_output=True)
    [entry] = json.loads((out / "summary.json").read_text())
    assert entry["status"] == "not started: no time left"
