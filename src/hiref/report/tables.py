"""Run records -> tables: one row per run, and a summary per dataset, n and method with the
paper's published values beside ours where both measure the same thing. A run on stand-in
data (``stand_in`` in its record, docs/stand-ins.md) is labelled as such everywhere, and no
published value is ever set beside it."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from hiref.records import read_record
from hiref.report import published as pub
from hiref.report.stand_in import HEADING as STAND_IN_HEADING
from hiref.report.stand_in import NOTE as STAND_IN_NOTE

#: Columns of the per-run table, in order.
RUN_COLUMNS = [
    "experiment", "dataset", "method", "n", "d", "seed", "cost", "status", "reason",
    "cost_p1", "cost_p2", "seconds", "compile_seconds", "wall_seconds", "peak_rss_mb",
    "device", "estimator", "stand_in", "git_commit",
]
#: Integer and decimal digits every number in a dataset's name is written with when tables
#: sort datasets.
NATURAL_DIGITS = (12, 6)
#: Metrics of the summary that may have a published value, and their names in tables.
METRIC_NAMES = {"cost_p1": "W1", "cost_p2": "W2", "seconds": "seconds"}
_STATS = ("cost_p1", "cost_p2", "ratio_to_exact", "seconds", "compile_seconds")


def load_runs(paths) -> pd.DataFrame:
    """One row per JSON record (:data:`RUN_COLUMNS`, ``params`` and ``extra`` as JSON
    strings), and the objective (the cost each run minimised) as column ``objective``."""
    rows = []
    for path in paths:
        rec = read_record(path)  # validated: a truncated or emptied record stops the table
        row = {key: rec.get(key) for key in RUN_COLUMNS}
        row["params"] = json.dumps(rec.get("params") or {}, sort_keys=True)
        row["extra"] = json.dumps(rec.get("extra") or {}, sort_keys=True)
        rows.append(row)
    runs = pd.DataFrame(rows, columns=[*RUN_COLUMNS, "params", "extra"])
    for col in ("cost_p1", "cost_p2", "seconds", "compile_seconds", "wall_seconds",
                "peak_rss_mb"):
        runs[col] = pd.to_numeric(runs[col], errors="coerce").astype(float)
    runs["objective"] = np.where(runs["cost"] == "euclidean", runs["cost_p1"], runs["cost_p2"])
    return runs


def summarise(runs: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and standard deviation over seeds of W1, W2, seconds and compile seconds per
    experiment, dataset, n and method, with the published values that match (see
    :func:`attach_published`).

    ``ratio_to_exact`` is the mean over seeds of the objective divided by exact OT's on the
    same data (when exact ran). A method skipped on every seed keeps its row, with the reason
    and no numbers.
    """
    runs = runs.copy()
    exact = runs[(runs["method"] == "exact") & (runs["status"] == "ok")]
    ref = exact.set_index(["experiment", "dataset", "n", "seed"])["objective"]
    keys = pd.MultiIndex.from_frame(runs[["experiment", "dataset", "n", "seed"]])
    runs["ratio_to_exact"] = runs["objective"].to_numpy() / ref.reindex(keys).to_numpy()

    def one(group: pd.DataFrame) -> pd.Series:
        ok = group[group["status"] == "ok"]
        stats = {"runs": len(ok), "skipped": len(group) - len(ok)}
        for col in _STATS:
            values = ok[col].astype(float).dropna()
            stats[f"{col}_mean"] = values.mean() if len(values) else np.nan
            stats[f"{col}_sd"] = values.std(ddof=1) if len(values) > 1 else np.nan
        stats["peak_rss_mb"] = ok["peak_rss_mb"].astype(float).max()
        stats["cost"] = group["cost"].iloc[0]
        stats["device"] = ", ".join(sorted(set(ok["device"].dropna())))
        stats["estimator"] = "; ".join(sorted(set(group["estimator"].dropna())))
        stats["stand_in"] = bool(group["stand_in"].any())
        stats["reason"] = "; ".join(sorted(set(group["reason"].dropna())))
        # The settings of every seed: a published value needs all of them to match.
        stats["params"] = sorted(set(group["params"]))
        # Each run's diagnostics: a published value may stand beside one of them (its form).
        stats["extras"] = [json.loads(e) for e in ok["extra"]] if "extra" in ok else []
        # Each seed's metrics: a published value of one draw is also set beside ours on it.
        stats["by_seed"] = {int(r.seed): {m: float(r[m]) if pd.notna(r[m]) else np.nan
                                          for m in METRIC_NAMES}
                            for _, r in ok.iterrows()}
        return pd.Series(stats)

    table = (
        runs.groupby(["experiment", "dataset", "n", "method"], sort=False)
        .apply(one, include_groups=False)
        .reset_index()
    )
    table = table.sort_values(["dataset", "n", "method"], kind="stable", ignore_index=True,
                              key=lambda column: column.map(natural_key)
                              if column.name == "dataset" else column)
    return attach_published(table, published)


def natural_key(name: str) -> str:
    """``name`` with each number written with ``NATURAL_DIGITS`` digits, so that names sort
    by their numbers: ``mosta_E9.5_E10.5`` before ``mosta_E10.5_E11.5`` (the stages' order),
    ``x9.25`` before ``x9.5``."""
    whole, decimals = NATURAL_DIGITS
    width = whole + 1 + decimals
    return re.sub(r"\d+(\.\d+)?",
                  lambda number: f"{float(number.group()):0{width}.{decimals}f}", name)


def attach_published(table: pd.DataFrame, published: pd.DataFrame | None) -> pd.DataFrame:
    """Adds ``paper_<metric>`` for every metric of :data:`METRIC_NAMES`, ``form_<metric>``
    (ours in the paper's objective form where it is not the plan's primal cost, e.g. FRLC's
    ``solver_objective``: the paper column stands beside it) and ``notes`` (a list of
    sentences per row: how the paper measured each value shown, why a value is withheld, why
    the run was skipped).

    A published value is matched on experiment, dataset, method, n and metric, and shown only
    when :func:`hiref.report.published.compare` accepts every seed's settings and cost (also
    beside a skipped row: the paper ran what our limits skipped), never beside a row run on
    stand-in data (:data:`STAND_IN_NOTE`).
    """
    table = table.copy()
    published = pub.load() if published is None else published
    costs = published[published["gene"].isna()].set_index(
        ["experiment", "dataset", "method", "n", "metric"], drop=False  # compare reads n
    )
    values = {metric: [] for metric in METRIC_NAMES}
    forms = {metric: [] for metric in METRIC_NAMES}
    notes = []
    for row in table.itertuples():
        row_notes = [row.reason] if row.reason else []
        if row.stand_in:
            for metric in METRIC_NAMES:
                values[metric].append(np.nan)
                forms[metric].append(np.nan)
            notes.append([STAND_IN_NOTE, *row_notes])
            continue
        for metric, name in METRIC_NAMES.items():
            key = (row.experiment, row.dataset, row.method, row.n, metric)
            entry = costs.loc[key] if key in costs.index else None
            reasons = set() if entry is None else (
                {pub.compare(entry, row.cost, json.loads(p)) for p in row.params} - {None})
            ours = np.nan
            if entry is not None and not reasons and entry["objective"] != "plan":
                ours, missing = pub.ours_in_form(entry, getattr(row, "extras", []))
                reasons |= {missing} - {None}
            forms[metric].append(np.nan if ours is None else ours)
            if entry is None or reasons:
                values[metric].append(np.nan)
                if reasons:
                    row_notes.append(f"Paper {name} withheld: {'; '.join(sorted(reasons))}.")
                continue
            values[metric].append(entry["value"])
            row_notes.append(describe(entry, name))
            row_notes += _same_draw(entry, row, metric, name)
        notes.append(row_notes)
    for metric in METRIC_NAMES:
        table[f"paper_{metric}"] = values[metric]
        table[f"form_{metric}"] = forms[metric]
    table["notes"] = notes
    return table


def _same_draw(entry: pd.Series, row, metric: str, name: str) -> list[str]:
    """A note with ours on the paper's draw, when the published value is of one draw (its
    ``seed``) and the row averages other seeds too; none otherwise."""
    if pd.isna(entry["seed"]):
        return []
    seed = int(entry["seed"])
    if set(row.by_seed) <= {seed}:
        return []
    if seed not in row.by_seed:
        return [(f"Paper {name} is of one draw (our seed {seed}), which did not run here; "
                 f"ours is the mean over seeds {sorted(row.by_seed)}.")]
    return [(f"Paper {name} is of one draw: ours on the same draw (seed {seed}) is "
             f"{_value(row.by_seed[seed][metric])}; the column shows the mean over "
             f"{len(row.by_seed)} seeds.")]


def describe(entry: pd.Series, name: str) -> str:
    """How the paper measured a published value: the note beside it."""
    parts = [f"Paper {name}: {entry['how']}".rstrip(), entry["note"]]
    if entry["objective"] != "plan":
        parts.append(f"it stands beside ours in the same form ('{name}, paper's form': "
                     f"{pub.OBJECTIVES[entry['objective']]}), not beside {name}, the exact "
                     "cost of our plan rounded onto the marginals")
    if entry["device"]:
        parts.append(f"measured on {entry['device']}")
    parts.append(f"source: {entry['source']}")
    return ". ".join(p[0].upper() + p[1:].rstrip(".") for p in parts if p) + "."


def unmatched_published(table: pd.DataFrame, published: pd.DataFrame | None,
                        experiment: str) -> pd.DataFrame:
    """Published costs and seconds of ``experiment`` that no row of ``table`` has (methods or
    sizes not run here, such as MOP or the sweep beyond the default sizes)."""
    published = pub.load() if published is None else published
    mine = published[(published["experiment"] == experiment) & published["gene"].isna()]
    keys = ["dataset", "method", "n"]
    have = set(map(tuple, table[keys].to_numpy())) if len(table) else set()
    return mine[[tuple(k) not in have for k in mine[keys].to_numpy()]]


def summary_csv(table: pd.DataFrame) -> pd.DataFrame:
    """The summary as written to ``<experiment>.csv``: notes joined by ``" | "``."""
    out = table.drop(columns=["params", "by_seed", "extras"], errors="ignore").copy()
    out["notes"] = [" | ".join(n) for n in out["notes"]]
    return out


def mean_sd(mean: float, sd: float, digits: int = 4) -> str:
    """``mean ± sd`` with ``digits`` significant digits of the mean (two of sd); only the mean
    when sd is NaN (a single seed), ``—`` when the mean is NaN. Also used by the studies'
    tables (hiref.studies.clustering.report)."""
    if np.isnan(mean):
        return "—"
    return f"{mean:.{digits}g}" if np.isnan(sd) else f"{mean:.{digits}g} ± {sd:.2g}"


def _value(v: float) -> str:
    return "" if np.isnan(v) else f"{v:.5g}"


def to_markdown(table: pd.DataFrame, cost: str, published: pd.DataFrame | None = None,
                experiment: str | None = None) -> str:
    """The summary as Markdown: published values beside ours in their own columns, notes as
    numbered footnotes below the table, then each method's estimator and the published
    values of this experiment that no run here matches. A table with rows run on stand-in
    data says so first, has a ``data`` column, and lists no published value at all."""
    footnotes: dict[str, int] = {}

    def refs(notes: list[str]) -> str:
        return " ".join(f"[{footnotes.setdefault(n, len(footnotes) + 1)}]" for n in notes)

    stand_in = bool(table["stand_in"].any())
    shown = pd.DataFrame({
        "data": table["stand_in"].map({True: "stand-in", False: "real"}),
        "dataset": table["dataset"],
        "n": table["n"],
        "method": table["method"],
        "runs": table["runs"].astype(int),
        # Costs with five digits: the paper's differences between methods are 0.1-1 %.
        "W1": [mean_sd(m, s, 5) for m, s in zip(table["cost_p1_mean"], table["cost_p1_sd"])],
        "W1, paper's form": table["form_cost_p1"].map(_value),
        "paper W1": table["paper_cost_p1"].map(_value),
        "W2": [mean_sd(m, s, 5) for m, s in zip(table["cost_p2_mean"], table["cost_p2_sd"])],
        "W2, paper's form": table["form_cost_p2"].map(_value),
        "paper W2": table["paper_cost_p2"].map(_value),
        "x exact": [mean_sd(m, s) for m, s in
                    zip(table["ratio_to_exact_mean"], table["ratio_to_exact_sd"])],
        "seconds": [mean_sd(m, s) for m, s in zip(table["seconds_mean"], table["seconds_sd"])],
        "compile s": [mean_sd(m, s) for m, s in
                      zip(table["compile_seconds_mean"], table["compile_seconds_sd"])],
        "paper seconds": table["paper_seconds"].map(_value),
        "peak MiB": table["peak_rss_mb"].map(lambda v: "—" if np.isnan(v) else f"{v:.0f}"),
        "notes": table["notes"].map(refs),
    })
    shown = shown.drop(columns=[c for c in ("W1, paper's form", "paper W1", "W2, paper's form",
                                            "paper W2", "paper seconds")
                                if shown[c].eq("").all()] + ([] if stand_in else ["data"]))
    objective = "W1 (Euclidean, p = 1)" if cost == "euclidean" else "W2 (squared Euclidean, p = 2)"
    devices = ", ".join(sorted({d for ds in table["device"] for d in ds.split(", ") if d}))
    paper = ("" if stand_in else " 'paper' columns hold the published value where the run used "
             "the authors' estimator at the same n and cost; the notes say how the paper "
             "measured it. \"W1, paper's form\" is ours computed as the authors computed "
             "theirs where that is not W1: an entropic or low-rank plan's cost as the solver "
             "returned it, not rounded onto the marginals (FRLC on MOSTA: its objective on the "
             "cost factors); the paper's value stands beside it.")
    lines = [STAND_IN_HEADING, ""] if stand_in else []
    lines += [
        (f"Methods minimise the {objective} cost. W1 and W2 are primal costs of each plan, mean "
        "± sd over seeds; 'x exact' is the minimised cost relative to exact OT on the same "
        "data. 'seconds' is solver time after compilation; 'compile s' is the JIT compilation "
        "(or first call on the same shapes) before it, recorded apart; host-only methods "
        f"have none. Ours ran on: {devices or '—'}.{paper}"),
        "",
        shown.to_markdown(index=False),
    ]
    if footnotes:
        lines += ["", "Notes:", ""] + [f"[{k}] {text}" for text, k in footnotes.items()]
    estimators = table.drop_duplicates("method")[["method", "estimator"]]
    estimators = estimators[estimators["estimator"] != ""]
    if len(estimators):
        lines += ["", "Estimators:", ""]
        lines += [f"- `{m}`: {e}" for m, e in zip(estimators["method"], estimators["estimator"])]
    if experiment is not None and not stand_in:
        missing = unmatched_published(table, published, experiment)
        if len(missing):
            lines += ["", "Published, not run here (no run at this method and n):", ""]
            for (dataset, method, metric), group in missing.groupby(
                    ["dataset", "method", "metric"], sort=False):
                pairs = ", ".join(f"{v:.5g} (n = {n})" for n, v in zip(group["n"], group["value"]))
                lines.append(f"- {dataset}, `{method}`, paper {METRIC_NAMES[metric]}: {pairs}")
    return "\n".join(lines) + "\n"
