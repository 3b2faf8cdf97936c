"""Figures: solver time and cost against n (the paper's Fig. S2), and alignment pictures."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only; jobs have no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.collections import LineCollection

from hiref.methods import METHODS
from hiref.report.stand_in import TITLE as STAND_IN_TITLE

#: What each method stands for in figure legends (its specification's ``legend``; labels
#: of unregistered methods show as they are).
LEGEND_NAMES = {name: spec.legend for name, spec in METHODS.items()}
_COST_METRIC = {"euclidean": ("cost_p1", "W1 cost (mean Euclidean distance)"),
                "sqeuclidean": ("cost_p2", "W2 cost (mean squared distance)")}
_COST_NAME = {"euclidean": "p = 1 (Euclidean)", "sqeuclidean": "p = 2 (squared Euclidean)"}


def _legend_name(label: str) -> str:
    name, _, value = label.partition("-")
    known = LEGEND_NAMES.get(name)
    if known is None:
        return label
    return f"{label}: {known}" + (f", {value}" if value else "")


def _guides(ax, n: np.ndarray, seconds: float) -> None:
    """Light reference slopes: time proportional to n and to n^2 from one anchor point."""
    lo, hi = n.min(), n.max()
    for power, text in ((1, "∝ n"), (2, "∝ n²")):
        ax.plot([lo, hi], [seconds, seconds * (hi / lo) ** power], color="0.6", lw=0.8,
                ls=":", zorder=0)
        ax.annotate(text, (hi, seconds * (hi / lo) ** power), color="0.45", fontsize=8,
                    xytext=(3, 0), textcoords="offset points", va="center")


def _paper_curve(ax, n, values, colour, marker, label: str) -> None:
    """The authors' published values, where they stand beside our runs, as a dashed line."""
    ax.plot(n, values, color=colour, ls="--", lw=1.2, marker=marker, ms=5, mfc="white",
            label=label)


def _clip_costs(ax, curves: dict[str, pd.Series]) -> None:
    """Keeps the cost axis on the methods near the best cost: a method far above (e.g. LOT)
    would flatten every difference that matters; it is named, with its range, instead."""
    values = pd.concat(curves.values()) if curves else pd.Series(dtype=float)
    if not len(values):
        return
    low = values.min()
    top = values[values <= low + 0.08 * abs(low)].max()
    span = max(top - low, 1e-12)
    ax.set_ylim(low - 0.05 * span, top + 0.05 * span)
    above = [f"{m} ({c.min():.4g}–{c.max():.4g})" for m, c in curves.items() if c.max() > top]
    if above:
        ax.text(0.99, 0.02, "above the axis: " + "; ".join(above), transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="0.3")


#: Columns of the runtime figure's data (:func:`runtime_scaling_data`), the CSV beside it.
FIGURE_COLUMNS = [
    "experiment", "dataset", "cost", "method", "n", "runs", "skipped", "seconds_mean",
    "seconds_sd", "compile_seconds_mean", "cost_metric", "cost_mean", "cost_sd",
    "cost_paper_form", "paper_seconds", "paper_cost", "device", "reason", "paper_notes",
    "stand_in",
]


def runtime_scaling_data(runs: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """What the runtime figure draws (:data:`FIGURE_COLUMNS`), one row per method and n of the
    experiment's first dataset: ours (mean and sd over seeds of solver seconds after
    compilation and of the minimised cost; ``cost_paper_form``, ours in the paper's objective
    form where that is not the plan's cost) and the authors' published seconds and cost. A
    published value is there only where it stands beside the run in the tables, by the same
    check (:func:`hiref.report.tables.summarise`: the same estimator, cost and settings at
    that n); otherwise NaN, and ``paper_notes`` says why it is withheld.

    ``runs``: the per-run table of one experiment (``<experiment>_runs.csv``, with each run's
    ``params`` and ``extra``); ``published``: :func:`hiref.report.published.load`.
    Runs on stand-in data (``stand_in``) get no published value and a title that says so.
    """
    from hiref.report import tables

    datasets = list(dict.fromkeys(runs["dataset"]))
    runs = runs[runs["dataset"] == datasets[0]]  # one pair per figure: the experiment's first
    cost = runs["cost"].iloc[0]
    metric = _COST_METRIC[cost][0]
    summary = tables.summarise(runs, published)
    data = pd.DataFrame({
        "experiment": summary["experiment"], "dataset": summary["dataset"], "cost": cost,
        "method": summary["method"], "n": summary["n"], "runs": summary["runs"],
        "skipped": summary["skipped"], "seconds_mean": summary["seconds_mean"],
        "seconds_sd": summary["seconds_sd"],
        "compile_seconds_mean": summary["compile_seconds_mean"], "cost_metric": metric,
        "cost_mean": summary[f"{metric}_mean"], "cost_sd": summary[f"{metric}_sd"],
        "cost_paper_form": summary[f"form_{metric}"],
        "paper_seconds": summary["paper_seconds"], "paper_cost": summary[f"paper_{metric}"],
        "device": summary["device"], "reason": summary["reason"],
        "paper_notes": [" | ".join(n for n in notes if n.startswith("Paper") and "withheld" in n)
                        for notes in summary["notes"]],
        "stand_in": summary["stand_in"],
    })
    return data[FIGURE_COLUMNS].sort_values(["method", "n"], kind="stable", ignore_index=True)


def runtime_scaling(data: pd.DataFrame, paths) -> None:
    """The paper's Fig. S2 in form, from :func:`runtime_scaling_data`: solver seconds (after
    compilation) against n, log-log, one line per method, with the authors' published seconds
    drawn dashed where they stand beside our runs; and the minimised cost against n, ours
    (dotted: ours in the paper's objective form, where it differs), beside the authors'
    published cost. Skipped runs are not drawn; the legend says where a method stops.
    """
    experiment, dataset, cost = (data[k].iloc[0] for k in ("experiment", "dataset", "cost"))
    cost_label = _COST_METRIC[cost][1]
    order = list(dict.fromkeys(data["method"]))
    colours = dict(zip(order, sns.color_palette("tab10", max(len(order), 10))))
    markers = dict(zip(order, "osD^v<>pXh*"))

    sns.set_theme(style="whitegrid", context="paper")
    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(13, 6.4), constrained_layout=True)
    curves = {}
    for method in order:
        rows = data[data["method"] == method]
        mine = rows[rows["runs"] > 0]
        label = _legend_name(method)
        skipped = rows[rows["runs"] == 0]
        if len(skipped):
            label += f" (skipped from n = {skipped['n'].min()})"
        style = {"color": colours[method], "marker": markers[method], "lw": 1.6, "ms": 5}
        if len(mine):
            ax_t.plot(mine["n"], mine["seconds_mean"], label=label, **style)
            ax_c.plot(mine["n"], mine["cost_mean"], label=label, **style)
            curves[method] = mine["cost_mean"].dropna()
        form = rows.dropna(subset=["cost_paper_form"])
        if len(form):
            ax_c.plot(form["n"], form["cost_paper_form"], color=colours[method], ls=":",
                      lw=1.4, marker=markers[method], ms=4,
                      label=f"{method}: ours in the paper's form (plan as returned, unrounded)")
            curves[f"{method} (paper's form)"] = form["cost_paper_form"]
        for ax, column in ((ax_t, "paper_seconds"), (ax_c, "paper_cost")):
            theirs = rows.dropna(subset=[column])
            if len(theirs):
                _paper_curve(ax, theirs["n"], theirs[column], colours[method], markers[method],
                             f"{method}: paper")
                if column == "paper_cost":
                    curves[f"{method} (paper)"] = theirs[column]
    timed = data[data["runs"] > 0].dropna(subset=["seconds_mean"])
    if len(timed):
        anchor = timed[timed["n"] == timed["n"].min()]["seconds_mean"].median()
        _guides(ax_t, np.sort(timed["n"].unique()), anchor)
    devices = ", ".join(sorted({d for ds in data["device"].dropna() for d in ds.split(", ")
                                if d})) or "no finished run"
    ax_t.set(yscale="log", ylabel="solver seconds (after compilation)",
             title=f"Time: solid = ours ({devices}), dashed = paper where its settings match")
    ax_c.set(ylabel=cost_label, title="Cost: solid = ours, dashed = paper where its settings "
             "match")
    _clip_costs(ax_c, curves)
    for ax in (ax_t, ax_c):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=2))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"$2^{{{np.log2(v):.0f}}}$"))
        ax.set_xlabel("n (points per side)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, fontsize=8,
                  frameon=False)
    runs = int(data["runs"].max()) if len(data) else 0
    fig.suptitle(f"{STAND_IN_TITLE if data['stand_in'].any() else ''}"
                 f"{dataset}, {_COST_NAME[cost]}; experiment {experiment}"
                 f"{f' (mean of {runs} seeds)' if runs > 1 else ''}")
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)


def alignment(x: np.ndarray, y: np.ndarray, perms: dict, lines: int, paths, seed=0) -> None:
    """One panel per method: both clouds and ``lines`` matched pairs (a seeded subset).

    Without any matching (every method skipped) the clouds alone are drawn.
    """
    pick = np.random.default_rng(seed).choice(len(x), min(lines, len(x)), replace=False)
    perms = perms or {"no matching available": None}
    sns.set_theme(style="white", context="paper")
    fig, axes = plt.subplots(1, len(perms), figsize=(4.5 * len(perms), 4.2),
                             sharex=True, sharey=True, squeeze=False, constrained_layout=True)
    for ax, (label, perm) in zip(axes[0], perms.items()):
        ax.scatter(*x.T, s=3, c="tab:blue", alpha=0.4, label="source x")
        ax.scatter(*y.T, s=3, c="tab:red", alpha=0.4, label="target y")
        if perm is not None:
            segments = np.stack([x[pick], y[perm[pick]]], axis=1)
            ax.add_collection(LineCollection(segments, colors="0.25", linewidths=0.4, alpha=0.6))
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="best", markerscale=3)
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
