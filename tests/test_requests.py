"""The workflow's scheduler requests against the jobs measured at the real size.

``profiles/measured_jobs.tsv`` holds every job measured on stand-in data at the real shapes
(``bench/measured_jobs.py``, docs/stand-ins.md); each job the workflow still plans must ask
for at least ``HEADROOM`` (1.25) times its measured peak memory and wall time.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT, run_snakemake

from hiref.report import jobs

MEASURED = ROOT / "profiles" / "measured_jobs.tsv"
#: The real-data part of the paper's configuration on stand-ins: the jobs measured here.
STAND_IN_CONFIGS = [str(ROOT / "config" / name)
                    for name in ("config.yaml", "paper.yaml", "stand_in.yaml")]

DRY_RUN = """\
Building DAG of jobs...
[Thu Dec  3 13:59:29 2026]
rule preprocess_mosta:
    input: resources/stand_in/mosta/E10.5_E1S1.MOSTA.h5ad
    output: results/data/mosta_E10.5_E11.5.npz, results/data/mosta_E10.5_E11.5.h5ad
    log: results/logs/preprocess_mosta/E10.5_E11.5.log
    jobid: 40
    benchmark: results/benchmarks/preprocess_mosta/E10.5_E11.5.tsv
    reason: Missing output files: results/data/mosta_E10.5_E11.5.npz
    wildcards: stage1=E10.5, stage2=E11.5
    resources: tmpdir=/tmp, mem_mb=16000, mem=16 GB, mem_mib=15259, runtime=60
[Thu Dec  3 13:59:29 2026]
rule gather_tables:
    output: results/tables/mosta.md
    jobid: 3
    resources: tmpdir=/tmp
[Thu Dec  3 13:59:29 2026] Group job small_jax (jobs in lexicogr. order):

    [Thu Dec  3 13:59:29 2026]
    rule solve_ot:
        input: results/data/coco.npz
        output: results/runs/coco/coco/lot/n2500_seed0.json, results/runs/coco/coco/lot/n2500_seed0.npz
        benchmark: results/benchmarks/solve_ot/coco/coco/lot/n2500_seed0.tsv
        wildcards: experiment=coco, dataset=coco, method=lot, n=2500, seed=0
        resources: tmpdir=/tmp, gpu=0, runtime=6, mem_mb=4084, mem=4.08 GB, mem_mib=3895
[Thu Dec  3 13:59:29 2026]
localrule all:
    input: results/tables/mosta.md
    jobid: 0
    resources: tmpdir=/tmp
Job stats:
"""


def test_a_dry_run_is_read_job_by_job():
    planned = jobs.planned_jobs(DRY_RUN, local={"gather_tables", "all"})
    assert planned == [
        jobs.PlannedJob("preprocess_mosta", "results/data/mosta_E10.5_E11.5.npz",
                        "results/benchmarks/preprocess_mosta/E10.5_E11.5.tsv",
                        "stage1=E10.5, stage2=E11.5", 16000, 60),
        jobs.PlannedJob("gather_tables", "results/tables/mosta.md", None, "", None, None,
                        local=True),
        jobs.PlannedJob("solve_ot", "results/runs/coco/coco/lot/n2500_seed0.json",
                        "results/benchmarks/solve_ot/coco/coco/lot/n2500_seed0.tsv",
                        "experiment=coco, dataset=coco, method=lot, n=2500, seed=0", 4084, 6),
    ]


def test_requests_below_the_headroom_are_named(tmp_path):
    bench = tmp_path / "results/benchmarks/preprocess_mosta/E10.5_E11.5.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load"
                     "\tcpu_time\n2900.0\t0:48:20\t12900.5\t1\t1\t1\t0\t0\t95.0\t2755\n")
    planned = jobs.planned_jobs(DRY_RUN, local={"gather_tables", "all"})
    measured = jobs.jobs_table(planned, tmp_path)
    assert measured[["rule", "wall_s", "peak_rss_mib"]].values.tolist() == [
        ["preprocess_mosta", 2900.0, 12900.5]]
    problems = jobs.short_falls(measured, planned)
    # 16000 < 1.25 x 12900.5 and 60 min < 1.25 x 2900 s: both named, with the job.
    assert len(problems) == 2 and all("mosta_E10.5_E11.5.npz" in p for p in problems)
    assert "mem_mb 16000" in problems[0] and "runtime 60 min" in problems[1]
    gone = jobs.short_falls(measured.assign(output="results/data/old.npz"), planned)
    assert gone == ["results/data/old.npz: measured but no longer a job of the workflow"]
    assert "| preprocess_mosta |" in jobs.markdown(measured)


def test_earlier_measurements_stand_for_jobs_not_measured_here(tmp_path):
    planned = jobs.planned_jobs(DRY_RUN, local={"gather_tables", "all"})
    earlier = pd.DataFrame([
        {"rule": "solve_ot", "output": "results/runs/coco/coco/lot/n2500_seed0.json",
         "wildcards": "", "wall_s": 132.0, "peak_rss_mib": 870.0, "mean_load": 48.0,
         "mem_mb_request": 1.0, "runtime_request_min": 1.0},
        {"rule": "solve_ot", "output": "results/runs/gone.json", "wildcards": "",
         "wall_s": 1.0, "peak_rss_mib": 1.0, "mean_load": 1.0, "mem_mb_request": 1.0,
         "runtime_request_min": 1.0}], columns=jobs.COLUMNS)
    measured = jobs.jobs_table(planned, tmp_path, earlier)
    # The earlier measurement of a planned job is kept with today's requests; a job the
    # workflow no longer plans is dropped.
    assert measured.values.tolist() == [
        ["solve_ot", "results/runs/coco/coco/lot/n2500_seed0.json",
         "experiment=coco, dataset=coco, method=lot, n=2500, seed=0", 132.0, 870.0, 48.0,
         4084, 6]]


def test_a_broken_benchmark_file_is_refused_by_name(tmp_path):
    assert jobs.read_benchmark(tmp_path / "absent.tsv") is None
    bad = tmp_path / "cut.tsv"
    bad.write_text("s\th:m:s\n")
    with pytest.raises(ValueError, match="cut.tsv"):
        jobs.read_benchmark(bad)


@pytest.mark.slow
def test_every_measured_job_is_requested_with_headroom():
    """The committed measurements against the requests the workflow makes today (a forced
    dry run of the stand-in configuration: every job it would submit, with its resources)."""
    measured = pd.read_csv(MEASURED, sep="\t", keep_default_na=False)
    assert list(measured.columns) == jobs.COLUMNS and len(measured) > 0
    done = run_snakemake("-n", "--forceall", "--cores", "2", "--resources", "gpu=0",
                         "--configfile", *STAND_IN_CONFIGS)
    assert done.returncode == 0, done.stderr[-3000:]
    local = jobs.local_rules(ROOT)
    assert "gather_tables" in local and "solve_ot" not in local
    planned = jobs.planned_jobs(done.stdout + done.stderr, local)
    assert len(planned) > 100
    assert jobs.short_falls(measured, planned) == []
