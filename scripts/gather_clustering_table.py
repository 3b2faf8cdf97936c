"""Records of the imbalanced-clustering study -> summary CSV and Markdown, per-seed and
per-class CSVs (rule gather_clustering_table)."""

from hiref.provenance import atomic_path, job_log
from hiref.studies.clustering import report

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    runs, classes, provenance = report.load_records(sm.input.records)
    summary = report.summarise(runs, sm.params.paper)
    for frame, path in ((summary, sm.output.csv), (runs, sm.output.runs),
                        (classes, sm.output.classes)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(report.to_markdown(summary, provenance))
