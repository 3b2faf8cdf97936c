"""Figures: runtime and memory against n, and alignment pictures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; jobs have no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.collections import LineCollection


def runtime_scaling(runs: pd.DataFrame, paths) -> None:
    """Solver seconds and peak memory against n, log-log, one line per method."""
    ok = runs[runs["status"] == "ok"]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    order = sorted(ok["method"].unique())
    for ax, column, label in (
        (axes[0], "seconds", "solver seconds"),
        (axes[1], "peak_rss_mb", "peak memory of the job (MiB)"),
    ):
        sns.lineplot(data=ok, x="n", y=column, hue="method", hue_order=order, style="method",
                     markers=True, dashes=False, errorbar=None, ax=ax)
        ax.set(xscale="log", yscale="log", xlabel="n (points per side)", ylabel=label)
    axes[1].get_legend().remove()
    devices = ", ".join(sorted(ok["device"].unique()))
    fig.suptitle(f"{', '.join(sorted(ok['dataset'].unique()))} on {devices}")
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
