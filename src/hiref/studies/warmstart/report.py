"""Tables and figures of the warm-start study, from the evaluation rows only."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; jobs have no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hiref import provenance

#: Packages besides hiref.provenance.PACKAGES whose versions the study records.
STUDY_PACKAGES = (*provenance.PACKAGES, "optax", "scikit-image", "scikit-learn")
FIVE = ("min", "q1", "median", "q3", "max")


def study_provenance(settings: dict, uses_jax: bool) -> dict:
    """Settings (seeds included), package versions, git commit of the code, device."""
    return {
        "settings": settings,
        "versions": provenance.versions(STUDY_PACKAGES),
        "git_commit": provenance.git_commit(Path(__file__).parent),
        "device": provenance.device(uses_jax),
    }


def summarise(rows: pd.DataFrame, threshold: float, compile_seconds: dict) -> pd.DataFrame:
    """One row per initializer: iterations (five-number summary by NumPy's linear
    interpolation, and mean), pairs converged, seconds per pair (initializer + Sinkhorn,
    after compilation) and compilation seconds, the median relative dual gap of the
    starting potentials, and the agreement with the cold start on the same pairs: the
    largest relative difference of the entropic OT cost (``same_cost`` when below the
    Sinkhorn threshold) and, for information, of the primal cost <C, P>."""
    cold = rows[rows["initializer"] == "cold"].set_index("pair")
    out = []
    for name, group in rows.groupby("initializer", sort=False):
        group = group.set_index("pair")
        iterations = group["iterations"].to_numpy(float)
        rel = (group["reg_ot_cost"] - cold["reg_ot_cost"]).abs() / cold["reg_ot_cost"].abs()
        primal = (group["primal_cost"] - cold["primal_cost"]).abs() / cold["primal_cost"].abs()
        gap = (group["final_dual"] - group["initial_dual"]) / group["final_dual"].abs()
        out.append({
            "initializer": name, "source": "ours",
            "pairs": len(group), "converged": int(group["converged"].sum()),
            **dict(zip(FIVE, np.percentile(iterations, [0, 25, 50, 75, 100]))),
            "mean": iterations.mean(),
            "seconds_per_pair": group["seconds"].mean(),
            "init_seconds_per_pair": group["init_seconds"].mean(),
            "compile_seconds": compile_seconds.get(name, np.nan),
            "initial_dual_gap": gap.median(),
            "cost_difference": rel.max(), "primal_difference": primal.max(),
            "same_cost": bool(rel.max() < threshold),
        })
    return pd.DataFrame(out)


def with_reference(table: pd.DataFrame, reference: dict) -> pd.DataFrame:
    """Appends the reference study's five-number summaries ``{label: [min, q1, median, q3,
    max]}`` as rows of ``source = "reference"`` (other columns empty)."""
    extra = [
        {"initializer": label, "source": "reference", **dict(zip(FIVE, map(float, values)))}
        for label, values in reference.items()
    ]
    return pd.concat([table, pd.DataFrame(extra)], ignore_index=True)


def _number(value, digits: str = ".0f") -> str:
    return "—" if pd.isna(value) else format(value, digits)


def to_markdown(table: pd.DataFrame, meta: dict, reference_note: str) -> str:
    """The table as Markdown, reference rows labelled, with a provenance footer."""
    settings = meta["settings"]
    sink = settings["sinkhorn"]
    lines = [
        "# Sinkhorn warm starts for colour-palette transfer",
        "",
        (
            f"Held-out pairs: {settings['test_pairs_used']} (test images from "
            f"{settings['test_photos']} source photos; train pairs: "
            f"{settings['train_pairs_used']}). Sinkhorn (ott-jax, log domain): epsilon "
            f"{sink['epsilon']}, threshold {sink['threshold']} (L1 marginal error, checked "
            f"every {sink['inner_iterations']} iterations), cap {sink['max_iterations']} "
            "iterations. Seconds per pair: initializer + Sinkhorn after compilation; compile "
            "s: the initializer's (Sinkhorn's, shared by all: "
            f"{settings['sinkhorn_compile_seconds']:.2f} s)."
        ),
        "",
        (
            "| initializer | data | pairs | converged | min | Q1 | median | Q3 | max | mean "
            "| s / pair | init s / pair | compile s | start dual gap | max cost diff | "
            "max primal diff | same cost |"
        ),
        "|" + "---|" * 17,
    ]
    for row in table.itertuples():
        ours = row.source == "ours"
        lines.append("| " + " | ".join([
            row.initializer,
            "ours" if ours else reference_note,
            _number(row.pairs) if ours else "—",
            _number(row.converged) if ours else "—",
            *(_number(getattr(row, key)) for key in FIVE),
            _number(row.mean, ".1f"),
            _number(row.seconds_per_pair, ".4f"),
            _number(row.init_seconds_per_pair, ".4f"),
            _number(row.compile_seconds, ".2f"),
            _number(row.initial_dual_gap, ".3g"),
            _number(row.cost_difference, ".1e"),
            _number(row.primal_difference, ".1e"),
            ("yes" if row.same_cost else "NO") if ours else "—",
        ]) + " |")
    lines += [
        "",
        (
            "Start dual gap: median over pairs of (J* - J0) / |J*|, J the semi-dual objective "
            "of the starting and the converged potentials. Max cost diff: largest relative "
            "difference of the entropic OT cost from the cold start's on the same pair (same "
            "cost = below the threshold); max primal diff: the same for <C, P>, which plans "
            "stopped at the threshold do not pin down as tightly."
        ),
        "",
        f"Provenance: git {meta['git_commit']}, device {meta['device']}, versions "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
        + f"; settings {json.dumps(settings, sort_keys=True)}",
        "",
    ]
    return "\n".join(lines)


def _save(fig, paths, meta: dict) -> None:
    text = json.dumps(meta, sort_keys=True)
    for path in paths:
        key = "Subject" if str(path).endswith(".pdf") else "Description"
        fig.savefig(path, dpi=150, metadata={key: text})
    plt.close(fig)


def plot_iterations(rows: pd.DataFrame, cap: int, step: int, paths, meta: dict) -> None:
    """Histogram of iterations to convergence per initializer: log-spaced bins, their edges
    halfway between multiples of ``step`` (counts are multiples of the check interval), so
    no bin falls between two possible counts."""
    names = list(dict.fromkeys(rows["initializer"]))
    low = max(step, rows["iterations"].min())
    bins = np.unique(np.round(np.geomspace(low, max(cap, 2 * low), 25) / step)) * step
    bins = np.append(bins - step / 2, bins[-1] + step / 2)
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for name in names:
        its = rows.loc[rows["initializer"] == name, "iterations"]
        ax.hist(its, bins=bins, histtype="step", linewidth=1.5,
                label=f"{name} (median {np.median(its):.0f})")
    ax.axvline(cap, color="0.4", linestyle=":", label=f"cap {cap}")
    ax.set(xscale="log", xlabel="Sinkhorn iterations to convergence", ylabel="pairs",
           title=f"{rows['pair'].nunique()} held-out palette pairs")
    ax.legend()
    _save(fig, paths, meta)


def barycentric_colors(f, g, x, y, epsilon: float) -> np.ndarray:
    """Where each colour of palette A goes: sum_j P_ij y_j / sum_j P_ij, with the plan
    P_ij = exp((f_i + g_j - |x_i - y_j|) / eps) of ott-jax's potentials. (k, 3) CIELAB."""
    cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)
    logits = (f[:, None] + g[None, :] - cost) / epsilon
    plan = np.exp(logits - logits.max(1, keepdims=True))  # row-normalised below
    return (plan @ y) / plan.sum(1, keepdims=True)


def recolour(lab_pixels: np.ndarray, palette: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Every pixel (p, 3) takes the target colour of its nearest palette colour: (p, 3)."""
    from scipy.spatial import cKDTree

    return targets[cKDTree(palette).query(lab_pixels)[1]]


def plot_transfer(panels: list[dict], paths, meta: dict) -> None:
    """One row per pair: image A, image B, A recoloured through each plan. ``panels``:
    dicts with ``a``, ``b`` (RGB images), ``titles`` (a, b) and ``recoloured``
    ``{label: RGB image}``."""
    columns = 2 + max(len(p["recoloured"]) for p in panels)
    fig, axes = plt.subplots(len(panels), columns, figsize=(3 * columns, 2.8 * len(panels)),
                             squeeze=False, constrained_layout=True)
    for ax_row, panel in zip(axes, panels):
        images = [panel["a"], panel["b"], *panel["recoloured"].values()]
        titles = [*panel["titles"], *panel["recoloured"]]
        for ax, image, title in zip(ax_row, images, titles):
            ax.imshow(image)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    _save(fig, paths, meta)
