"""Per-class accuracy against class size (rule plot_class_accuracy)."""

from contextlib import redirect_stderr

import pandas as pd

from hiref.studies.clustering import report

sm = snakemake  # noqa: F821 (the object Snakemake injects)
with open(sm.log[0], "w") as log, redirect_stderr(log):
    report.plot_class_accuracy(pd.read_csv(sm.input.classes), [sm.output.png, sm.output.pdf])
