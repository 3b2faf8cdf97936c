"""Records of the imbalanced-clustering study -> tables (mean ± sd over seeds), the figure of
per-class accuracy against class size, and the KL-weight sweep of P²OT (table and figure)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hiref.report.tables import mean_sd
from hiref.studies.clustering.methods import METHODS
from hiref.studies.clustering.metrics import GROUPS

#: Scores of every record, in table order (fractions in [0, 1]; ARI may be negative).
SCORES = ("acc", "macro_acc", "nmi", "ari", *(f"acc_{g}" for g in GROUPS))
#: Column titles of the Markdown table.
TITLES = {"acc": "ACC", "macro_acc": "class-avg ACC", "nmi": "NMI", "ari": "ARI",
          "acc_head": "head ACC", "acc_medium": "medium ACC", "acc_tail": "tail ACC"}
RUN_COLUMNS = ["dataset", "method", "seed", "n", "d", "k", *SCORES, "seconds",
               "compile_seconds", "wall_seconds", "peak_rss_mb", "device", "git_commit",
               "kl_weight", "selected_epoch", "solves", "capped"]
#: How the head, medium and tail groups were formed (metrics.GROUPINGS), for the header.
GROUPING_TEXT = {
    "authors": "the first 30 %, next 40 % and last 30 % of the classes by size (the P²OT "
               "authors' split, int() of each share)",
    "thirds": "three near-equal thirds of the classes by size",
}
SELECTION_TEXT = {
    "loss": "the weights of the epoch with the lowest training loss / rho (the authors' "
            "model selection)",
    "last": "the weights of the last epoch",
}


def percent(mean: float, sd: float) -> str:
    """A score (a fraction) as ``mean ± sd`` in percent with one decimal; only the mean
    when sd is NaN (one seed), ``—`` when the mean is NaN (an empty group)."""
    if np.isnan(mean):
        return "—"
    return f"{100 * mean:.1f}" if np.isnan(sd) else f"{100 * mean:.1f} ± {100 * sd:.1f}"


def _read(path) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable clustering record: {err}") from err


def load_records(paths) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs: one row per record; classes: one row per record and true class with its size
    and accuracy; provenance: seeds, git commits, package versions and every method's
    settings, gathered from the records)."""
    runs, classes = [], []
    provenance = {"seeds": set(), "git_commit": set(), "versions": {}, "params": {},
                  "evaluation": {}}
    for path in paths:
        rec = _read(path)
        try:
            solver = rec["solver"] or {}
            runs.append({**{k: rec.get(k) for k in RUN_COLUMNS}, **rec["scores"],
                         "kl_weight": rec["params"].get("p2ot", {}).get("kl_weight"),
                         "solves": len(solver.get("converged", [])),
                         "capped": solver.get("capped", 0)})
            for c, (name, size, acc) in enumerate(zip(
                rec["class_names"], rec["class_sizes"], rec["class_accuracy"], strict=True
            )):
                classes.append({"dataset": rec["dataset"], "method": rec["method"],
                                "seed": rec["seed"], "class": c, "class_name": name,
                                "size": size, "accuracy": acc})
            provenance["seeds"].add(rec["seed"])
            provenance["git_commit"].add(str(rec["git_commit"]))
            provenance["versions"].update(rec["versions"])
            provenance["params"][rec["method"]] = rec["params"]
            provenance["evaluation"].update(rec["params"]["evaluation"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: clustering record without {err}") from err
    provenance = {**provenance, "seeds": sorted(provenance["seeds"]),
                  "git_commit": sorted(provenance["git_commit"])}
    return pd.DataFrame(runs, columns=RUN_COLUMNS), pd.DataFrame(classes), provenance


def provenance_note(provenance: dict) -> str:
    """One Markdown paragraph: seeds, commits, versions and the settings of each method."""
    packages = ("jax", "ott-jax", "optax", "scikit-learn", "scanpy", "hiref")
    versions = ", ".join(f"{p} {provenance['versions'].get(p)}" for p in packages)
    settings = "; ".join(f"{m}: {json.dumps(v, sort_keys=True)}"
                         for m, v in provenance["params"].items())
    return (f"Provenance: seeds {', '.join(map(str, provenance['seeds']))}; git "
            f"{', '.join(provenance['git_commit'])}; {versions}. Settings: {settings}.\n")


def _method_order(methods) -> list[str]:
    return sorted(methods, key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))


def summarise(runs: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """Per dataset and method: number of seeds, mean and sd of every score (fractions) and of
    seconds, the pseudo-label solves and how many stopped at the iteration cap (over every
    seed and labelling), and the published values ``paper[dataset][method][score]``
    (percent, stored as fractions in ``paper_<score>``)."""
    rows = []
    paper = paper or {}
    for (dataset, method), group in runs.groupby(["dataset", "method"], sort=False):
        row = {"dataset": dataset, "method": method, "seeds": len(group)}
        for col in (*SCORES, "seconds", "compile_seconds"):
            values = group[col].astype(float)
            row[f"{col}_mean"] = values.mean()
            row[f"{col}_sd"] = values.std(ddof=1) if len(values) > 1 else np.nan
        row["n"], row["k"] = int(group["n"].iloc[0]), int(group["k"].iloc[0])
        row["solves"], row["capped"] = int(group["solves"].sum()), int(group["capped"].sum())
        published = paper.get(dataset, {}).get(method, {})
        for score in SCORES:  # published in percent; fractions like ours
            row[f"paper_{score}"] = published.get(score, np.nan) / 100
        rows.append(row)
    table = pd.DataFrame(rows)
    order = _method_order(table["method"].unique())
    table["order"] = table["method"].map(order.index)
    return table.sort_values(["dataset", "order"], ignore_index=True).drop(columns="order")


def verdicts(table: pd.DataFrame) -> list[str]:
    """Per dataset with both: whether P²OT's mean ACC and NMI beat balanced OT's (SeLa)."""
    lines = []
    for dataset, group in table.groupby("dataset", sort=True):
        rows = group.set_index("method")
        if not {"p2ot", "sela"} <= set(rows.index):
            continue
        parts = []
        for score in ("acc", "nmi", "acc_tail"):
            diff = rows.at["p2ot", f"{score}_mean"] - rows.at["sela", f"{score}_mean"]
            parts.append(f"{TITLES[score]} {'+' if diff >= 0 else '−'}{abs(diff) * 100:.1f} pt")
        acc = rows.at["p2ot", "acc_mean"] - rows.at["sela", "acc_mean"]
        verdict = "beats" if acc > 0 else "does not beat"
        line = f"- {dataset}: P²OT {verdict} balanced OT (SeLa) on mean ACC ({', '.join(parts)})"
        if "kmeans" in rows.index:
            gap = rows.at["p2ot", "acc_mean"] - rows.at["kmeans", "acc_mean"]
            line += f"; against k-means its ACC is {'+' if gap >= 0 else '−'}{abs(gap) * 100:.1f} pt"
        lines.append(line + ".")
    return lines


def to_markdown(table: pd.DataFrame, provenance: dict) -> str:
    """The summary in percent (mean ± sd over seeds), published values in their own rows,
    the verdicts and the provenance."""
    shown = {"dataset": table["dataset"], "method": table["method"], "n": table["n"],
             "K": table["k"], "seeds": table["seeds"]}
    for score in SCORES:
        shown[TITLES[score]] = [percent(m, s) for m, s in
                                zip(table[f"{score}_mean"], table[f"{score}_sd"])]
    shown["seconds"] = [mean_sd(m, s) for m, s in zip(table["seconds_mean"], table["seconds_sd"])]
    shown["capped solves"] = [f"{c} / {n}" if n else "—"
                              for c, n in zip(table["capped"], table["solves"])]
    out = pd.DataFrame(shown)
    published = table[[f"paper_{s}" for s in SCORES]].notna().any(axis=1)
    if published.any():
        rows = table[published]
        paper = pd.DataFrame({
            "dataset": rows["dataset"], "method": rows["method"] + " (published)",
            "n": rows["n"], "K": rows["k"], "seeds": "",
            **{TITLES[s]: rows[f"paper_{s}"].map(lambda v: "" if np.isnan(v) else f"{v * 100:.1f}")
               for s in SCORES},
            "seconds": "", "capped solves": "",
        })
        out = pd.concat([out, paper]).sort_index(kind="stable")
    evaluation = provenance["evaluation"]
    selection = evaluation.get("model_selection")
    header = (
        "Clustering of long-tailed data on frozen features, in percent, mean ± sd over seeds. "
        "ACC is Hungarian-matched accuracy over samples, class-avg ACC its mean over classes; "
        f"head / medium / tail ACC average the classes of "
        f"{GROUPING_TEXT[evaluation.get('groups', 'authors')]}. "
        + (f"Heads are evaluated with {SELECTION_TEXT[selection]}. " if selection else "")
        + "seconds: training after JIT compilation (k-means: fit). capped solves: "
        "pseudo-label solves (every epoch of every seed) stopped by the iteration cap, of "
        "all. Rows marked (published) are the P²OT paper's numbers (different backbone and "
        "training), not ours.\n\n"
    )
    lines = verdicts(table)
    footer = "\n" + "\n".join(lines) + "\n" if lines else ""
    return (header + out.to_markdown(index=False) + "\n" + footer + "\n"
            + provenance_note(provenance))


def plot_class_accuracy(classes: pd.DataFrame, paths) -> None:
    """One panel per dataset: accuracy of every true class (mean over seeds) against its
    size, log x axis, one line per method through the classes ordered by size."""
    import matplotlib

    matplotlib.use("Agg")  # files only; jobs have no display
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import ScalarFormatter

    mean = (classes.groupby(["dataset", "method", "class", "size"], as_index=False)["accuracy"]
            .mean().sort_values(["dataset", "method", "size"]))
    datasets = sorted(mean["dataset"].unique())
    order = _method_order(mean["method"].unique())
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.8),
                             squeeze=False, constrained_layout=True)
    for ax, dataset in zip(axes[0], datasets):
        sns.lineplot(data=mean[mean["dataset"] == dataset], x="size", y="accuracy",
                     hue="method", hue_order=order, style="method", style_order=order,
                     markers=True, dashes=False, errorbar=None, sort=True, ax=ax)
        ax.set(xscale="log", ylim=(-0.03, 1.03), title=dataset,
               xlabel="class size (samples)", ylabel="class accuracy (Hungarian-matched)")
        ax.xaxis.set_major_formatter(ScalarFormatter())
    for ax in axes[0][1:]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)


#: Scores of the KL-weight sweep's table and figure.
SWEEP_SCORES = ("acc", "macro_acc", "nmi", "acc_tail")


def sweep_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and KL weight lam of P²OT's sweep: seeds, mean and sd of ``SWEEP_SCORES``
    (fractions), the pseudo-label solves and how many were capped."""
    rows = []
    for (dataset, lam), group in runs.groupby(["dataset", "kl_weight"], sort=True):
        row = {"dataset": dataset, "kl_weight": lam, "seeds": len(group)}
        for score in SWEEP_SCORES:
            values = group[score].astype(float)
            row[f"{score}_mean"] = values.mean()
            row[f"{score}_sd"] = values.std(ddof=1) if len(values) > 1 else np.nan
        row["solves"], row["capped"] = int(group["solves"].sum()), int(group["capped"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_markdown(sweep: pd.DataFrame, baselines: pd.DataFrame, provenance: dict) -> str:
    """The sweep in percent (mean ± sd over seeds) with the k-means and SeLa rows of the
    main table (``summarise``) beside it, per dataset."""
    lines = [(
        "P²OT against its KL weight lam (the weight pulling cluster sizes towards uniform; "
        "the authors' lam = 1), every other setting as in the main table; in percent, mean ± "
        "sd over seeds. k-means and SeLa do not depend on lam: their rows repeat the main "
        "table's.\n"
    )]
    for dataset, part in sweep.groupby("dataset", sort=True):
        shown = {"lam": [f"{lam:g}" for lam in part["kl_weight"]]}
        for score in SWEEP_SCORES:
            shown[TITLES[score]] = [percent(m, s) for m, s in
                                    zip(part[f"{score}_mean"], part[f"{score}_sd"])]
        shown["capped solves"] = [f"{c} / {n}" for c, n in zip(part["capped"], part["solves"])]
        table = pd.DataFrame(shown)
        base = baselines[(baselines["dataset"] == dataset)
                         & baselines["method"].isin(["kmeans", "sela"])]
        extra = pd.DataFrame({
            "lam": base["method"] + " (no lam)",
            **{TITLES[s]: [percent(m, d) for m, d in
                           zip(base[f"{s}_mean"], base[f"{s}_sd"])] for s in SWEEP_SCORES},
            "capped solves": "",
        })
        lines += [f"\n## {dataset}\n", pd.concat([table, extra]).to_markdown(index=False), ""]
    return "\n".join(lines) + "\n" + provenance_note(provenance)


def plot_kl_sweep(sweep: pd.DataFrame, baselines: pd.DataFrame, paths) -> None:
    """One panel per dataset: P²OT's ACC and class-averaged ACC (mean ± sd over seeds)
    against lam (log axis), k-means' and SeLa's values of both as horizontal lines in the
    same colours."""
    import matplotlib

    matplotlib.use("Agg")  # files only; jobs have no display
    import matplotlib.pyplot as plt

    datasets = sorted(sweep["dataset"].unique())
    scores = {"acc": ("C0", "o"), "macro_acc": ("C1", "s")}
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.8),
                             squeeze=False, constrained_layout=True)
    for ax, dataset in zip(axes[0], datasets):
        part = sweep[sweep["dataset"] == dataset]
        base = baselines[baselines["dataset"] == dataset].set_index("method")
        for score, (colour, marker) in scores.items():
            ax.errorbar(part["kl_weight"], 100 * part[f"{score}_mean"],
                        yerr=100 * part[f"{score}_sd"].fillna(0), marker=marker, capsize=3,
                        color=colour, label=f"P²OT {TITLES[score]}")
            for method, style in (("kmeans", "--"), ("sela", ":")):
                if method in base.index:
                    ax.axhline(100 * base.at[method, f"{score}_mean"], color=colour,
                               linestyle=style, alpha=0.7, label=f"{method} {TITLES[score]}")
        ax.set_xscale("log")
        ax.set_xticks(part["kl_weight"], [f"{lam:g}" for lam in part["kl_weight"]])
        ax.minorticks_off()
        ax.set(title=dataset, xlabel="KL weight λ", ylabel="percent (mean ± sd over seeds)")
        ax.legend(fontsize=6)
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
