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


def _paper_curves(ax, theirs: pd.DataFrame, cost: str, colour, marker, label: str) -> None:
    """The authors' published values as a dashed line; points measured under another cost
    than the experiment's are circled and named."""
    theirs = theirs.sort_values("n")
    ax.plot(theirs["n"], theirs["value"], color=colour, ls="--", lw=1.2, marker=marker, ms=5,
            mfc="white", label=label)
    other = theirs[theirs["cost"] != cost]
    if len(other):
        ax.plot(other["n"], other["value"], ls="none", marker="o", ms=11, mfc="none", mec="0.2",
                label=f"{label}: point solved with a {', '.join(sorted(set(other['cost'])))} "
                "cost")


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


def runtime_scaling(runs: pd.DataFrame, published: pd.DataFrame, paths) -> None:
    """The paper's Fig. S2 in form: solver seconds (after compilation) against n, log-log, one
    line per method, with the authors' published seconds drawn dashed beside ours; and the
    minimised cost against n, ours and the authors' published curve.

    ``runs``: the per-run table of one experiment (``<experiment>_runs.csv``);
    ``published``: :func:`hiref.report.published.load`. One dataset is drawn, the
    experiment's first; published values are drawn for this experiment and dataset, and a
    published point measured under another cost is circled and named in the legend. Skipped
    runs are not drawn; the legend says where a method stops. Runs on stand-in data
    (``stand_in``) get no published curve and a title that says so.
    """
    datasets = list(dict.fromkeys(runs["dataset"]))
    runs = runs[runs["dataset"] == datasets[0]]  # one pair per figure: the experiment's first
    ok = runs[runs["status"] == "ok"]
    experiment = runs["experiment"].iloc[0]
    cost = runs["cost"].iloc[0]
    metric, cost_label = _COST_METRIC[cost]
    order = list(dict.fromkeys(runs.sort_values("method", kind="stable")["method"]))
    colours = dict(zip(order, sns.color_palette("tab10", max(len(order), 10))))
    markers = dict(zip(order, "osD^v<>pXh*"))
    stand_in = "stand_in" in runs and bool(runs["stand_in"].any())
    paper = published[(published["experiment"] == experiment)
                      & (published["dataset"] == datasets[0]) & published["gene"].isna()
                      & (not stand_in)]

    sns.set_theme(style="whitegrid", context="paper")
    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(13, 6.4), constrained_layout=True)
    costs = {}
    for method in order:
        mine = ok[ok["method"] == method].groupby("n")[["seconds", metric]].mean()
        label = _legend_name(method)
        skipped = runs[(runs["method"] == method) & (runs["status"] != "ok")]
        if len(skipped):
            label += f" (skipped from n = {skipped['n'].min()})"
        style = {"color": colours[method], "marker": markers[method], "lw": 1.6, "ms": 5}
        if len(mine):
            ax_t.plot(mine.index, mine["seconds"], label=label, **style)
            ax_c.plot(mine.index, mine[metric], label=label, **style)
            costs[method] = mine[metric].dropna()
        for ax, col in ((ax_t, "seconds"), (ax_c, metric)):
            theirs = paper[(paper["method"] == method) & (paper["metric"] == col)]
            if len(theirs):
                device = theirs["device"].dropna().unique()
                where = f", {device[0]}" if len(device) else ""
                _paper_curves(ax, theirs, cost, colours[method], markers[method],
                              f"{method}: paper{where}")
                costs[f"{method} (paper)"] = theirs["value"] if col == metric else None
    costs = {k: v for k, v in costs.items() if v is not None and len(v)}
    timed = ok.dropna(subset=["seconds"])
    if len(timed):
        anchor = timed[timed["n"] == timed["n"].min()]["seconds"].median()
        _guides(ax_t, np.sort(timed["n"].unique()), anchor)
    devices = ", ".join(sorted(ok["device"].dropna().unique())) or "no finished run"
    ax_t.set(yscale="log", ylabel="solver seconds (after compilation)",
             title=f"Time: solid = ours ({devices}), dashed = paper")
    ax_c.set(ylabel=cost_label, title="Cost: solid = ours, dashed = paper")
    _clip_costs(ax_c, costs)
    for ax in (ax_t, ax_c):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=2))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"$2^{{{np.log2(v):.0f}}}$"))
        ax.set_xlabel("n (points per side)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, fontsize=8,
                  frameon=False)
    seeds = sorted(runs["seed"].unique())
    fig.suptitle(
        f"{STAND_IN_TITLE if stand_in else ''}"
        f"{datasets[0]}, {_COST_NAME[cost]}; experiment {experiment}"
        f"{f' (first of {len(datasets)} datasets)' if len(datasets) > 1 else ''}, seed"
        f"{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
        f"{' (mean)' if len(seeds) > 1 else ''}"
    )
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
