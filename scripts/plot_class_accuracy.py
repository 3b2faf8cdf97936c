"""Per-class accuracy against class size (rule plot_class_accuracy)."""

import pandas as pd

from hiref.provenance import job_log
from hiref.studies.clustering import report

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with job_log(sm.log[0]):
    report.plot_class_accuracy(pd.read_csv(sm.input.classes), [sm.output.png, sm.output.pdf])
