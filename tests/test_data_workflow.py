"""The real-data rules through Snakemake: the paper's full DAG as a dry run, and every rule
run for real on fixtures served through file:// URLs (zip of JPEGs -> retrieve -> embed
with random weights -> split -> solve; MOSTA-like stages -> preprocess -> solve;
Vizgen-like CSVs -> preprocess -> solve -> gene-transfer score)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SESSION_ENV, background_run, run_snakemake
from data_fixtures import make_images, make_stage, tissue, write_replicate, zip_folder

from hiref.datasets.merfish import PAPER_GENES, rotate


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule -> number of jobs."""
    stats = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_paper_config_dry_run_shows_every_real_experiment(tmp_path):
    (tmp_path / "imagenet_train").mkdir()
    overlay = tmp_path / "imagenet.yaml"
    overlay.write_text(
        yaml.safe_dump({"data": {"imagenet": {"train_dir": str(tmp_path / "imagenet_train")}}})
    )
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    # Outside the repository the Snakefile's own config/config.yaml is not found: name it.
    paper_yaml = [str(ROOT / "config/config.yaml"), str(ROOT / "config/paper.yaml")]
    proc = run_snakemake("-n", "--configfile", *paper_yaml, str(overlay), workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = job_counts(proc.stdout)
    assert {"coco", "mosta", "merfish", "imagenet"} <= set(paper["run"])
    # COCO zip + weights + 8 MOSTA stages + 4 MERFISH CSVs; ImageNet is read in place.
    assert jobs["retrieve"] == 14
    assert jobs["embed_images"] == jobs["split_embeddings"] == 2
    assert jobs["preprocess_mosta"] == 7 and jobs["preprocess_merfish"] == 1
    assert jobs["score_gene_transfer"] >= 1 and jobs["gather_gene_transfer"] == 1
    # Without the ImageNet folder the imagenet experiment does not run: one message at parse
    # time, and its table says why (the configuration's `run` is left as it is).
    proc = run_snakemake("-n", "--configfile", *paper_yaml, workdir=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    message = ("experiment imagenet is not run: the ImageNet (ILSVRC2012) train images are "
               "licensed and never downloaded. Set data.imagenet.train_dir")
    assert (proc.stdout + proc.stderr).count(message) == 1
    assert "data.stand_in: true" in proc.stdout + proc.stderr
    jobs = job_counts(proc.stdout)
    assert jobs["embed_images"] == 1 and jobs["experiment_not_run"] == 1


def test_paper_real_data_on_stand_ins_is_one_command(tmp_path):
    """The documented stand-in command (docs/stand-ins.md): generators instead of downloads,
    the same preprocessing rules, every real-data experiment of config/paper.yaml."""
    configs = [str(ROOT / "config" / name) for name in ("config.yaml", "paper.yaml",
                                                         "stand_in.yaml")]
    # Local copies of real data are left alone (and may even be absent) in stand-in mode.
    overlay = tmp_path / "local.yaml"
    overlay.write_text(yaml.safe_dump({"data": {"mosta": {"local_dir": str(tmp_path)}}}))
    proc = run_snakemake("-n", "--configfile", *configs, str(overlay), workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = job_counts(proc.stdout)
    assert "retrieve" not in jobs and "experiment_not_run" not in jobs
    assert jobs["stand_in_mosta"] == 8 and jobs["stand_in_merfish"] == 2
    assert jobs["stand_in_coco"] == jobs["stand_in_imagenet"] == jobs["embed_images"] == 1
    assert jobs["split_embeddings"] == 2 and jobs["preprocess_mosta"] == 7
    assert jobs["preprocess_merfish"] == 1 and jobs["gather_tables"] == 5
    assert "resources/stand_in/imagenet/imagenet.npz" in proc.stdout


def solve_requests(output: str) -> dict[tuple[str, str], str]:
    """(experiment, method) -> the resources line of each solve_ot job of a dry run."""
    jobs = re.findall(r"rule solve_ot:.*?wildcards: experiment=(\w+), dataset=[\w.]+, "
                      r"method=([\w.-]+),.*?resources: ([^\n]*)", output, re.DOTALL)
    return {(experiment, method): resources for experiment, method, resources in jobs}


def test_stand_ins_without_a_gpu_skip_only_the_gpu_class_solves(tmp_path):
    """config/stand_in_cpu.yaml: the authors' HiRef on MERFISH and ImageNet, FRLC on
    ImageNet and ProgOT on MOSTA's second pair are skipped before any data is read (the
    skipped run's smallest request, no GPU); the other solves keep their requests."""
    configs = [str(ROOT / "config" / name) for name in (
        "config.yaml", "paper.yaml", "stand_in.yaml", "stand_in_cpu.yaml")]
    targets = [f"results/runs/{experiment}/{experiment}/{method}/n{n}_seed0.json"
               for experiment, n in (("merfish", 84172), ("imagenet", 640500))
               for method in ("hiref", "frlc", "hiref_refined")]
    targets += [f"results/runs/mosta/mosta_E10.5_E11.5/{method}/n18408_seed0.json"
                for method in ("progot", "sinkhorn")]
    proc = run_snakemake(*targets, "-n", "--configfile", *configs, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    requests = solve_requests(proc.stdout)
    skipped = {("merfish", "hiref"), ("imagenet", "hiref"), ("imagenet", "frlc"),
               ("mosta", "progot")}
    assert set(requests) == {(e, m) for e in ("merfish", "imagenet")
                             for m in ("hiref", "frlc", "hiref_refined")} | {
        ("mosta", "progot"), ("mosta", "sinkhorn")}
    for run, resources in requests.items():
        assert ("mem_mb=1000," in resources) == (run in skipped), (run, resources)
        assert ("gpu=0" in resources) == (run in skipped), (run, resources)
    # A skipped run holds no transport: the gene-transfer table scores the others.
    proc = run_snakemake("results/tables/gene_transfer/merfish.csv", "-n", "--configfile",
                         *configs, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "results/gene_transfer/merfish/hiref_refined/n84172_seed0.csv" in proc.stdout
    assert "results/gene_transfer/merfish/hiref/" not in proc.stdout


def test_missing_local_data_is_one_message_before_any_job(tmp_path):
    (tmp_path / "empty").mkdir()
    overlay = tmp_path / "local.yaml"
    overlay.write_text(yaml.safe_dump({
        "run": ["coco", "mosta"],
        "data": {"coco": {"images": str(tmp_path / "val2017")},
                 "mosta": {"local_dir": str(tmp_path / "empty")}},
    }))
    proc = run_snakemake("--cores", "1", "--configfile", str(ROOT / "config/config.yaml"),
                         str(overlay), workdir=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "nothing has run" in out
    assert f"data.coco.images: {tmp_path / 'val2017'} does not exist" in out
    assert f"data.mosta.local_dir: {tmp_path / 'empty' / 'E9.5_E1S1.MOSTA.h5ad'} does not exist" in out
    assert "downloaded when its local key is null" in out and "data.stand_in: true" in out
    assert out.count("cannot start") == 1 and not (tmp_path / "results").exists()


def test_stand_ins_never_replace_real_data(tmp_path):
    """A stand-in run refuses a working directory holding real prepared data, and a stand-in
    folder that is the real data's folder; both before any job."""
    configs = [str(ROOT / "config" / name) for name in ("config.yaml", "stand_in.yaml")]
    (tmp_path / "results" / "data").mkdir(parents=True)
    real = tmp_path / "results" / "data" / "merfish.npz"
    np.savez(real, x=np.zeros((2, 2)), y=np.zeros((2, 2)), meta=json.dumps({"n": 2}))
    proc = run_snakemake("-n", "--configfile", *configs, workdir=tmp_path)
    assert proc.returncode != 0
    assert "results/data/merfish.npz: was prepared from real data" in proc.stdout + proc.stderr
    real.unlink()
    overlay = tmp_path / "same.yaml"
    overlay.write_text(yaml.safe_dump({"data": {"stand_in_data": {"dir": "resources"}}}))
    proc = run_snakemake("-n", "--configfile", *configs, str(overlay), workdir=tmp_path)
    assert proc.returncode != 0
    assert ("resources/mosta/E9.5_E1S1.MOSTA.h5ad: the stand-in generator would write the real "
            "data's own file") in proc.stdout + proc.stderr


def test_local_copies_replace_downloads(tmp_path):
    """Local COCO folder, weights file, MOSTA folder and MERFISH CSVs (gzipped, and Replicate
    3's under the authors' own file names): no retrieval."""
    images = make_images(tmp_path / "val2017", n=2)
    weights = tmp_path / "resnet50-0676ba61.pth"
    weights.write_bytes(b"weights")
    mosta = tmp_path / "mosta"
    mosta.mkdir()
    for stage in ("E9.5", "E10.5"):
        (mosta / f"{stage}_E1S1.MOSTA.h5ad").write_bytes(b"h5")
    merfish = tmp_path / "merfish"
    merfish.mkdir()
    authors_metadata = (
        "datasets_mouse_brain_map_BrainReceptorShowcase_Slice2_Replicate3_cell_metadata_S2R3.csv.gz"
    )
    authors_counts = "S2R3_X_BrainReceptorShowcase-Slice2-Replicate3-cell_by_gene_S2R3.csv"
    for name in (authors_metadata, authors_counts, "cell_metadata_S2R2.csv.gz",
                 "cell_by_gene_S2R2.csv"):
        (merfish / name).write_bytes(b"csv")
    overlay = tmp_path / "local.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "run": ["coco", "mosta", "merfish"],
                "experiments": {"mosta": {"datasets": ["mosta_E9.5_E10.5"]}},
                "data": {
                    "weights": {"path": str(weights)},
                    "coco": {"images": str(images)},
                    "mosta": {"stages": ["E9.5", "E10.5"], "local_dir": str(mosta)},
                    "merfish": {"local_dir": str(merfish)},
                },
            }
        )
    )
    config = str(ROOT / "config/config.yaml")
    proc = run_snakemake("-n", "--configfile", config, str(overlay), workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "retrieve" not in job_counts(proc.stdout)
    for path in (
        images,
        weights,
        mosta / "E9.5_E1S1.MOSTA.h5ad",
        merfish / authors_metadata,
        merfish / authors_counts,
        merfish / "cell_metadata_S2R2.csv.gz",
        merfish / "cell_by_gene_S2R2.csv",
    ):
        assert str(path) in proc.stdout, path


def write_fixtures(root: Path) -> dict:
    """Raw files shaped like the real ones, and the config overlay that points at them."""
    zip_path = zip_folder(make_images(root / "val2017", n=9), root / "mirror" / "val2017.zip")
    stage_dir = root / "mirror" / "mosta"
    stage_dir.mkdir(parents=True)
    genes = [f"Gene{i}" for i in range(70)]
    stages = {"E9.5": 40, "E10.5": 55, "E11.5": 48}
    for k, (stage, cells) in enumerate(stages.items()):
        make_stage(stage_dir / f"{stage}_E1S1.MOSTA.h5ad", cells, genes[k * 5 : k * 5 + 60], k)
    xy, counts = tissue(130, 0)
    keep = np.random.default_rng(1).choice(130, 110, replace=False)
    write_replicate(root / "mirror" / "Replicate3", "S2R3", xy, counts, np.arange(130))
    write_replicate(
        root / "mirror" / "Replicate2",
        "S2R2",
        rotate(xy[keep], -45),  # as the real Replicate 2 sits; preparation rotates it back
        counts[keep],
        10**6 + np.arange(110),
    )
    small_hiref = {"max_rank": 4, "max_q": 16, "hierarchy_depth": 4, "max_iter": 10, "min_iter": 5}
    return {
        "run": ["coco", "mosta", "merfish"],
        "resources": {"gpu": 0},
        "experiments": {
            "coco": {
                "n": [4],
                "seeds": [0],
                "cost": "sqeuclidean",
                "methods": ["hiref", "exact"],
                "settings": {"hiref": small_hiref},
            },
            "mosta": {
                "datasets": ["mosta_E9.5_E10.5", "mosta_E10.5_E11.5"],
                "n_by_dataset": {"mosta_E9.5_E10.5": [40], "mosta_E10.5_E11.5": [48]},
                "methods": ["hiref", "exact"],
                "settings": {"hiref": small_hiref},
            },
            "merfish": {
                "n": [110],
                "methods": ["hiref", "exact"],
                "settings": {"hiref": small_hiref},
            },
        },
        "data": {
            # threads 2: one DataLoader worker process opens the zip itself (a fresh process
            # here; in the pytest process, forking after JAX has started threads is unsafe).
            "embedding": {"size": 64, "batch_size": 4, "threads": 2, "random_init_seed": 0},
            "coco": {"url": zip_path.as_uri(), "checksum": sha256(zip_path), "n_per_side": 4},
            "mosta": {
                "stages": list(stages),
                "url": stage_dir.as_uri() + "/{stage}_E1S1.MOSTA.h5ad",
                "checksums": {s: sha256(stage_dir / f"{s}_E1S1.MOSTA.h5ad") for s in stages},
                "n_comps": 5,
            },
            "merfish": {
                "url": (root / "mirror").as_uri() + "/Replicate{replicate}/{file}",
                "bins": 10,
                "transfer_methods": ["hiref", "exact"],
            },
        },
    }


@background_run
def fixtures_run(folder):
    """Every real-data rule on the fixtures (in the background: tests/conftest.py)."""
    work = folder / "wf"
    work.mkdir()
    overlay = write_fixtures(folder)
    (work / "fixtures.yaml").write_text(yaml.safe_dump(overlay))
    config = [str(ROOT / "config/config.yaml"), "fixtures.yaml"]
    proc = run_snakemake("--cores", "2", "--resources", "gpu=0", "--configfile", *config,
                         workdir=work, timeout=900, environ=SESSION_ENV)
    return work, overlay, proc


@pytest.mark.slow
def test_real_data_rules_end_to_end_on_fixtures(fixtures_run):
    work, overlay, proc = fixtures_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]

    # Retrieval through file:// kept the bytes; embeddings record the random weights.
    assert sha256(work / "resources/coco/val2017.zip") == overlay["data"]["coco"]["checksum"]
    with np.load(work / "results/data/coco.npz") as data:
        assert data["x"].shape == data["y"].shape == (4, 2048)
        assert not set(data["x_ids"]) & set(data["y_ids"])
        assert "RANDOM INIT" in json.loads(str(data["meta"]))["weights"]

    # Every run finished, and no method beat exact OT on its own objective.
    for experiment, sizes in (
        ("coco", {"coco": 4}),
        ("mosta", {"mosta_E9.5_E10.5": 40, "mosta_E10.5_E11.5": 48}),
        ("merfish", {"merfish": 110}),
    ):
        runs = pd.read_csv(work / f"results/tables/{experiment}_runs.csv")
        assert (runs["status"] == "ok").all(), runs[["dataset", "method", "reason"]]
        assert dict(zip(runs["dataset"], runs["n"])) == sizes
        best = runs.pivot_table(index="dataset", columns="method", values="objective")
        assert (best["hiref"] >= best["exact"] * (1 - 1e-6)).all(), best
        assert (work / f"results/tables/{experiment}.md").stat().st_size > 0

    import anndata as ad

    pair = ad.read_h5ad(work / "results/data/mosta_E10.5_E11.5.h5ad")
    assert pair.obsm["X_pca"].shape == (96, 5) and pair.obsm["spatial"].shape == (96, 2)
    assert pair.uns["preprocess"]["cells_before_subsampling"].tolist() == [55, 48]

    # Gene transfer: the exact matching of the aligned slices carries expression along.
    scores = pd.read_csv(work / "results/tables/gene_transfer/merfish.csv")
    # Two methods, five genes, both cosine formulas for a bijection.
    assert len(scores) == 2 * len(PAPER_GENES) * 2 and set(scores["method"]) == {"hiref", "exact"}
    assert set(scores["definition"]) == {"binned_transfer", "plan_inner_product"}
    assert scores.loc[scores["method"] == "exact", "mean"].mean() > 0.8
    assert scores["mean"].between(-1, 1).all()
    for ext in ("png", "pdf"):
        assert (
            work / f"results/figures/gene_transfer/merfish_exact_n110_seed0.{ext}"
        ).stat().st_size > 10_000
    for rule in (
        "retrieve",
        "embed_images",
        "split_embeddings",
        "preprocess_mosta",
        "preprocess_merfish",
        "score_gene_transfer",
        "gather_gene_transfer",
    ):
        assert (
            any((work / "results/logs" / rule).rglob("*.log"))
            or (work / f"results/logs/{rule}.log").exists()
        ), rule


def stand_in_overlay() -> dict:
    """The real-data experiments on tiny stand-ins: the same generators and rules, sizes
    from the configuration (docs/stand-ins.md)."""
    return {
        "run": ["coco", "mosta", "merfish", "imagenet"],
        "resources": {"gpu": 0},
        "experiments": {
            "coco": {"n": [8], "methods": ["exact"]},
            "mosta": {"datasets": ["mosta_E9.5_E10.5"],
                      "n_by_dataset": {"mosta_E9.5_E10.5": [60]}, "methods": ["exact"]},
            # At the paper's n the published costs would stand beside a real run.
            "merfish": {"n": [100], "methods": ["exact"]},
            "imagenet": {"n": [50], "methods": ["exact"]},
        },
        "data": {
            "stand_in": True,
            "stand_in_data": {
                "mosta": {"cells": {"E9.5": 60, "E10.5": 80}, "tissues": {"E9.5": 3, "E10.5": 4},
                          "genes": 300, "median_umi": 200},
                "merfish": {"source_cells": 120, "target_cells": 100},
                "coco": {"images": 16},
                "imagenet": {"rows": 120, "classes": 6, "dim": 32},
            },
            "mosta": {"stages": ["E9.5", "E10.5"], "n_comps": 5},
            "coco": {"n_per_side": 8},
            "imagenet": {"n_per_side": 50},
            "embedding": {"size": 64, "batch_size": 4, "threads": 2},
            "merfish": {"bins": 10, "transfer_methods": ["exact"]},
        },
    }


@background_run
def stand_ins_run(work):
    """The real-data experiments on tiny stand-ins (in the background: tests/conftest.py)."""
    (work / "tiny.yaml").write_text(yaml.safe_dump(stand_in_overlay()))
    proc = run_snakemake("--cores", "2", "--resources", "gpu=0", "--configfile",
                         str(ROOT / "config/config.yaml"), "tiny.yaml", workdir=work,
                         timeout=900, environ=SESSION_ENV)
    return work, proc


@pytest.mark.slow
def test_stand_ins_run_through_the_real_data_rules_to_labelled_tables(stand_ins_run):
    tmp_path, proc = stand_ins_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    assert not (tmp_path / "resources" / "mosta").exists()  # nothing at the real paths
    assert (tmp_path / "resources/stand_in/mosta/E9.5_E1S1.MOSTA.h5ad").exists()
    with np.load(tmp_path / "results/data/coco.npz") as data:
        assert data["x"].shape == (8, 2048)
        meta = json.loads(str(data["meta"]))
        assert "RANDOM INIT" in meta["weights"] and meta["stand_in"]["dataset"] == "coco"
    for experiment, dataset in (("coco", "coco"), ("mosta", "mosta_E9.5_E10.5"),
                                ("merfish", "merfish"), ("imagenet", "imagenet")):
        runs = pd.read_csv(tmp_path / f"results/tables/{experiment}_runs.csv")
        assert (runs["status"] == "ok").all() and runs["stand_in"].all(), runs
        record = json.loads(next((tmp_path / "results/runs" / experiment / dataset)
                                 .rglob("*.json")).read_text())
        assert record["stand_in"] is True
        text = (tmp_path / f"results/tables/{experiment}.md").read_text()
        assert text.startswith("**Stand-in data.**") and "| stand-in " in text
        assert "Published, not run here" not in text
    transfer = (tmp_path / "results/tables/gene_transfer/merfish.md").read_text()
    assert transfer.startswith("**Stand-in data.**") and "| paper" not in transfer
    assert pd.read_csv(tmp_path / "results/tables/gene_transfer/merfish.csv")["stand_in"].all()
    for job in ("mosta/E9.5", "mosta/E10.5", "merfish/S2R3", "merfish/S2R2", "coco", "imagenet"):
        assert (tmp_path / f"results/benchmarks/stand_in/{job}.tsv").exists(), job
        assert "\nwrote " in "\n" + (tmp_path / f"results/logs/stand_in/{job}.log").read_text()
