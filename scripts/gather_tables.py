"""Run records of one experiment -> per-run CSV, summary CSV and Markdown with the paper's
published values beside ours (gather_tables)."""

from hiref.provenance import atomic_path, job_log
from hiref.report import published, tables

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    values = published.load()
    runs = tables.load_runs(sm.input.records)
    summary = tables.summarise(runs, values)
    for frame, path in ((runs, sm.output.runs), (tables.summary_csv(summary), sm.output.csv)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(
            tables.to_markdown(summary, sm.params.cost, values, experiment=sm.params.experiment)
        )
