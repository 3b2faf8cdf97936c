"""P²OT against its KL weight: table and figure (rule plot_kl_sweep)."""

import pandas as pd

from hiref.provenance import atomic_path, job_log
from hiref.studies.clustering import report

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    runs, _, provenance = report.load_records(sm.input.records)
    sweep = report.sweep_summary(runs)
    baselines = pd.read_csv(sm.input.table)
    with atomic_path(sm.output.csv) as tmp:
        sweep.to_csv(tmp, index=False)
    with atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(report.sweep_markdown(sweep, baselines, provenance))
    with atomic_path(sm.output.png) as png, atomic_path(sm.output.pdf) as pdf:
        report.plot_kl_sweep(sweep, baselines, [png, pdf])
