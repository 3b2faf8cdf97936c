"""Tables and figures of the warm-start study, from the evaluation rows only.

Uncertainty is paired: on every held-out pair, an initializer's iteration count is divided
by the cold start's on the same pair. A ratio below 1 is a faster pair. The table gives the
share of faster and slower pairs, the median ratio with a percentile-bootstrap interval
(pairs resampled with replacement, seeded) and the worst (largest) ratio. Pairs that share
an image are not independent, so the interval describes these photos, not photos at large.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # files only; jobs have no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from hiref import provenance

#: Packages besides hiref.provenance.PACKAGES whose versions the study records.
STUDY_PACKAGES = (*provenance.PACKAGES, "optax", "scikit-image", "scikit-learn")
FIVE = ("min", "q1", "median", "q3", "max")
#: The reference study solved pairs in batches of 8 and counted a batch's iterations until
#: all 8 converged: its numbers are batch maxima (notebook 4, ``validate_sinkhorn_iteration_count``).
REFERENCE_BATCH = 8
#: Coverage of the bootstrap interval of the median ratio.
LEVEL = 0.95


def study_provenance(settings: dict, uses_jax: bool) -> dict:
    """Settings (seeds included), package versions, git commit of the code, device."""
    return {
        "settings": settings,
        "versions": provenance.versions(STUDY_PACKAGES),
        "git_commit": provenance.git_commit(),
        "device": provenance.device(uses_jax),
    }


def batch_maxima(iterations: np.ndarray, batch: int = REFERENCE_BATCH) -> np.ndarray:
    """Maxima of consecutive groups of ``batch`` counts (pairs in evaluation order, a seeded
    random order); an incomplete last group is dropped, as in none of the reference's."""
    whole = len(iterations) // batch * batch
    return np.asarray(iterations[:whole]).reshape(-1, batch).max(1)


def paired_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Per pair and warm initializer: iterations / the cold start's on the same pair."""
    cold = rows[rows["initializer"] == "cold"].set_index("pair")["iterations"]
    warm = rows[rows["initializer"] != "cold"]
    return warm.assign(ratio=warm["iterations"].to_numpy() / cold.loc[warm["pair"]].to_numpy())


def paired_summary(ratios: np.ndarray, resamples: int, seed: int) -> dict:
    """Share of pairs faster (ratio < 1) and slower (> 1), the median ratio with its
    percentile-bootstrap ``LEVEL`` interval over ``resamples`` resamples of the pairs
    (seeded), and the worst ratio."""
    ratios = np.asarray(ratios, float)
    draws = np.random.default_rng(seed).integers(0, len(ratios), (resamples, len(ratios)))
    medians = np.median(ratios[draws], axis=1)
    tail = (1 - LEVEL) / 2 * 100
    return {
        "faster": float(np.mean(ratios < 1)), "slower": float(np.mean(ratios > 1)),
        "ratio_median": float(np.median(ratios)),
        "ratio_low": float(np.percentile(medians, tail)),
        "ratio_high": float(np.percentile(medians, 100 - tail)),
        "ratio_worst": float(ratios.max()),
    }


def summarise(
    rows: pd.DataFrame, problem: str, settings: dict, compile_seconds: dict, bootstrap: dict
) -> pd.DataFrame:
    """One row per initializer of one problem: pairs converged and capped, iterations
    (five-number summary by NumPy's linear interpolation, mean, and the median of batch-of-8
    maxima, the reference's estimator), the paired comparison with the cold start, seconds
    per pair (initializer + Sinkhorn, after compilation) and compilation seconds, the median
    relative dual gap of the start, and the agreement with the cold start's entropic OT cost
    on the pairs where both converged (largest relative difference; ``same_cost`` below
    ``settings['same_cost_tolerance']``; the primal cost <C, P> for information): a capped
    solve has not reached the cost, and is counted in ``capped`` instead."""
    cold = rows[rows["initializer"] == "cold"].set_index("pair")
    ratios = paired_ratios(rows)
    out = []
    for name, group in rows.groupby("initializer", sort=False):
        group = group.set_index("pair")
        iterations = group["iterations"].to_numpy(float)
        both = group.index[group["converged"] & cold.loc[group.index, "converged"]]
        rel = ((group["reg_ot_cost"] - cold["reg_ot_cost"]).abs() / cold["reg_ot_cost"].abs())[both]
        primal = ((group["primal_cost"] - cold["primal_cost"]).abs()
                  / cold["primal_cost"].abs())[both]
        gap = (group["final_dual"] - group["initial_dual"]) / group["final_dual"].abs()
        paired = {} if name == "cold" else paired_summary(
            ratios.loc[ratios["initializer"] == name, "ratio"], bootstrap["resamples"],
            bootstrap["seed"])
        maxima = batch_maxima(iterations)
        out.append({
            "problem": problem, "initializer": name, "source": "ours",
            "pairs": len(group), "converged": int(group["converged"].sum()),
            "capped": int((~group["converged"]).sum()),
            **dict(zip(FIVE, np.percentile(iterations, [0, 25, 50, 75, 100]))),
            "mean": iterations.mean(),
            "batch8_median": float(np.median(maxima)) if len(maxima) else np.nan,
            **paired,
            "seconds_per_pair": group["seconds"].mean(),
            "init_seconds_per_pair": group["init_seconds"].mean(),
            "compile_seconds": compile_seconds.get(name, np.nan),
            "initial_dual_gap": gap.median(),
            "cost_pairs": len(both), "cost_difference": rel.max(),
            "primal_difference": primal.max(),
            "same_cost": bool(rel.max() < settings["same_cost_tolerance"]),
        })
    return pd.DataFrame(out)


def with_reference(table: pd.DataFrame, reference: dict, problem: str) -> pd.DataFrame:
    """Appends the reference study's five-number summaries of batch-of-8 maxima
    ``{label: [min, q1, median, q3, max]}`` as rows of ``source = "reference"`` in the section
    of ``problem`` (its median also in ``batch8_median``; other columns empty)."""
    extra = [
        {"problem": problem, "initializer": label, "source": "reference",
         **dict(zip(FIVE, map(float, values))), "batch8_median": float(values[2])}
        for label, values in reference.items()
    ]
    return pd.concat([table, pd.DataFrame(extra)], ignore_index=True)


def _number(value, digits: str = ".0f") -> str:
    return "—" if pd.isna(value) else format(value, digits)


def _share(value) -> str:
    return "—" if pd.isna(value) else f"{100 * value:.0f} %"


def _interval(row) -> str:
    if pd.isna(row.ratio_median):
        return "—"
    return f"{row.ratio_median:.2f} [{row.ratio_low:.2f}, {row.ratio_high:.2f}]"


COLUMNS = (
    "| initializer | data | pairs | capped | min | Q1 | median | Q3 | max | mean "
    "| median of 8-pair maxima | faster | slower | median ratio [95 % CI] | worst ratio "
    "| s / pair | compile s | start dual gap | max cost diff | same cost |"
)


def _problem_lines(name: str, table: pd.DataFrame, meta: dict, reference_note: str) -> list[str]:
    settings = meta["problems"][name]
    sink = settings["sinkhorn"]
    rule = {
        "marginal": "L1 marginal error of the second marginal (ott-jax's rule)",
        "scaling": "largest change of the log-scaling in one iteration (the reference's rule)",
    }[sink["stopping"]]
    lines = [
        f"## Problem `{name}`",
        "",
        (
            f"Held-out pairs: {settings['test_pairs_used']} (test images from "
            f"{settings['test_photos']} source photos; training pairs: "
            f"{settings['train_pairs_used']}). Sinkhorn (log domain, ott-jax's update order): "
            f"epsilon {sink['epsilon']}, stop when the {rule} is below {sink['threshold']}, "
            f"checked every {sink['check_every']} iterations, cap {sink['max_iterations']}. "
            f"Same cost: relative difference of the entropic OT cost from the cold start's "
            f"below {settings['same_cost_tolerance']} on every pair where both converged. "
            "Compile s of the shared Sinkhorn solve: "
            f"{settings['sinkhorn_compile_seconds']:.2f}."
        ),
        "",
        COLUMNS,
        "|" + "---|" * (COLUMNS.count("|") - 1),
    ]
    for row in table.itertuples():
        ours = row.source == "ours"
        lines.append("| " + " | ".join([
            row.initializer,
            "ours" if ours else reference_note,
            _number(row.pairs) if ours else "—",
            _number(row.capped) if ours else "—",
            *(_number(getattr(row, key)) for key in FIVE),
            _number(row.mean, ".1f"),
            _number(row.batch8_median),
            _share(row.faster) if ours else "—",
            _share(row.slower) if ours else "—",
            _interval(row) if ours else "—",
            _number(row.ratio_worst, ".2f") if ours else "—",
            _number(row.seconds_per_pair, ".4f"),
            _number(row.compile_seconds, ".2f"),
            _number(row.initial_dual_gap, ".3g"),
            _number(row.cost_difference, ".1e"),
            ("yes" if row.same_cost else "NO") if ours else "—",
        ]) + " |")
    return lines + [""]


def to_markdown(table: pd.DataFrame, meta: dict, reference_note: str) -> str:
    """The table as Markdown, one section per problem, reference rows labelled, with the
    definitions and a provenance footer."""
    lines = ["# Sinkhorn warm starts for colour-palette transfer", ""]
    for name, part in table.groupby("problem", sort=False):
        lines += _problem_lines(name, part, meta, reference_note)
    lines += [
        (
            "Ratios are paired: on each pair, the initializer's iterations / the cold start's; "
            "faster / slower: share of pairs with a ratio below / above 1; the interval is a "
            f"percentile bootstrap over pairs ({meta['bootstrap']['resamples']} resamples, "
            f"seed {meta['bootstrap']['seed']}); pairs that share an image are not "
            "independent, so it describes these photos. Median of 8-pair maxima: the "
            "reference's estimator (it counted a batch of 8 pairs until all converged), over "
            "consecutive groups of 8 pairs in evaluation order. A capped pair counts as the "
            "cap. Start dual gap: median over pairs of (J* - J0) / |J*|, J the semi-dual "
            "objective of the start and of the converged potentials. s / pair: initializer + "
            "Sinkhorn after compilation."
        ),
        "",
        f"Provenance: git {meta['git_commit']}, device {meta['device']}, versions "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
        + f"; settings {json.dumps(meta['problems'], sort_keys=True)}",
        "",
    ]
    return "\n".join(lines)


def _save(fig, paths, meta: dict) -> None:
    text = json.dumps(meta, sort_keys=True)
    for path in paths:
        key = "Subject" if str(path).endswith(".pdf") else "Description"
        fig.savefig(path, dpi=150, metadata={key: text})
    plt.close(fig)


def plot_iterations(evaluations: dict[str, pd.DataFrame], caps: dict[str, int], paths,
                    meta: dict) -> None:
    """One column per problem: above, the distribution (ECDF) of iterations per
    initializer, the cap dotted; below, every pair's paired ratio to the cold start per
    warm initializer (log scale; 1 = as fast as cold), the median marked."""
    fig, axes = plt.subplots(2, len(evaluations), figsize=(6 * len(evaluations), 7.5),
                             squeeze=False, constrained_layout=True)
    for column, (problem, rows) in enumerate(evaluations.items()):
        top, bottom = axes[0, column], axes[1, column]
        names = list(dict.fromkeys(rows["initializer"]))
        # One colour per initializer in both panels.
        colours = {name: f"C{i}" for i, name in enumerate(names)}
        for name in names:
            its = np.sort(rows.loc[rows["initializer"] == name, "iterations"].to_numpy())
            top.step(its, np.arange(1, len(its) + 1) / len(its), where="post",
                     color=colours[name], label=f"{name} (median {np.median(its):.0f})")
        top.axvline(caps[problem], color="0.4", linestyle=":", label=f"cap {caps[problem]}")
        top.set(xscale="log", xlabel="Sinkhorn iterations", ylabel="share of pairs",
                title=f"{problem}: {rows['pair'].nunique()} held-out pairs")
        top.legend(fontsize=7)
        ratios = paired_ratios(rows)
        warm = [n for n in names if n != "cold"]
        jitter = np.random.default_rng(0)
        for position, name in enumerate(warm):
            values = ratios.loc[ratios["initializer"] == name, "ratio"].to_numpy()
            bottom.scatter(position + jitter.uniform(-0.25, 0.25, len(values)), values, s=6,
                           alpha=0.5, color=colours[name])
            bottom.hlines(np.median(values), position - 0.35, position + 0.35, color="k")
        bottom.axhline(1.0, color="0.4", linestyle=":")
        bottom.set(yscale="log", xticks=range(len(warm)), ylabel="iterations / cold start's",
                   title="paired ratios (below 1: faster than cold)")
        bottom.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        bottom.yaxis.set_major_formatter(ScalarFormatter())
        bottom.yaxis.set_minor_formatter(NullFormatter())
        bottom.set_xticklabels(warm, rotation=15, fontsize=8)
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
