"""Run records -> tables: one row per run, and a summary per dataset, n and method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hiref.records import read_record

#: Columns of the per-run table, in order.
RUN_COLUMNS = [
    "experiment", "dataset", "method", "n", "d", "seed", "cost", "status", "reason",
    "cost_p1", "cost_p2", "seconds", "wall_seconds", "peak_rss_mb", "device", "git_commit",
]


def load_runs(paths) -> pd.DataFrame:
    """One row per JSON record; the objective (the cost minimised) as column ``objective``."""
    rows = []
    for path in paths:
        rec = read_record(path)  # validated: a truncated or emptied record stops the table
        rows.append({key: rec.get(key) for key in RUN_COLUMNS})
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    runs["objective"] = np.where(runs["cost"] == "euclidean", runs["cost_p1"], runs["cost_p2"])
    runs["objective"] = runs["objective"].astype(float)
    return runs


def summarise(runs: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """Mean and standard deviation over seeds of W1, W2 and seconds per dataset, n, method.

    ``ratio_to_exact`` is the mean over seeds of the objective divided by exact OT's on the
    same data (when exact ran); ``paper`` is ``{dataset: {method: value}}`` of published
    objectives. A method skipped on every seed keeps its row, with the reason and no numbers.
    """
    runs = runs.copy()
    exact = runs[(runs["method"] == "exact") & (runs["status"] == "ok")]
    ref = exact.set_index(["dataset", "n", "seed"])["objective"]
    keys = pd.MultiIndex.from_frame(runs[["dataset", "n", "seed"]])
    runs["ratio_to_exact"] = runs["objective"].to_numpy() / ref.reindex(keys).to_numpy()

    def one(group: pd.DataFrame) -> pd.Series:
        ok = group[group["status"] == "ok"]
        stats = {"runs": len(ok), "skipped": len(group) - len(ok)}
        for col in ("cost_p1", "cost_p2", "ratio_to_exact", "seconds"):
            values = ok[col].astype(float)
            stats[f"{col}_mean"] = values.mean()
            stats[f"{col}_sd"] = values.std(ddof=1) if len(values) > 1 else np.nan
        stats["peak_rss_mb"] = ok["peak_rss_mb"].astype(float).max()
        stats["reason"] = "; ".join(sorted(set(group["reason"].dropna())))
        return pd.Series(stats)

    table = (
        runs.groupby(["dataset", "n", "method"], sort=False)
        .apply(one, include_groups=False)
        .reset_index()
    )
    paper = paper or {}
    table["paper"] = [
        paper.get(row.dataset, {}).get(row.method, np.nan) for row in table.itertuples()
    ]
    return table.sort_values(["dataset", "n", "method"], kind="stable", ignore_index=True)


def _mean_sd(mean: float, sd: float) -> str:
    if np.isnan(mean):
        return "—"
    return f"{mean:.4g}" if np.isnan(sd) else f"{mean:.4g} ± {sd:.2g}"


def to_markdown(table: pd.DataFrame, cost: str) -> str:
    """The summary as a Markdown table; skipped runs print "—" and their reason."""
    shown = pd.DataFrame({
        "dataset": table["dataset"],
        "n": table["n"],
        "method": table["method"],
        "runs": table["runs"].astype(int),
        "W1": [_mean_sd(m, s) for m, s in zip(table["cost_p1_mean"], table["cost_p1_sd"])],
        "W2": [_mean_sd(m, s) for m, s in zip(table["cost_p2_mean"], table["cost_p2_sd"])],
        "x exact": [_mean_sd(m, s) for m, s in
                    zip(table["ratio_to_exact_mean"], table["ratio_to_exact_sd"])],
        "seconds": [_mean_sd(m, s) for m, s in zip(table["seconds_mean"], table["seconds_sd"])],
        "peak MiB": table["peak_rss_mb"].map(lambda v: "—" if np.isnan(v) else f"{v:.0f}"),
        "paper": table["paper"].map(lambda v: "" if np.isnan(v) else f"{v:.4g}"),
        "note": table["reason"],
    })
    if shown["paper"].eq("").all():
        shown = shown.drop(columns="paper")
    objective = "W1 (Euclidean)" if cost == "euclidean" else "W2 (squared Euclidean)"
    header = (
        f"Methods minimise the {objective} cost; W1 and W2 are primal costs of each plan, "
        "mean ± sd over seeds; 'x exact' is the minimised cost relative to exact OT on the "
        "same data; seconds are solver time only.\n\n"
    )
    return header + shown.to_markdown(index=False) + "\n"
