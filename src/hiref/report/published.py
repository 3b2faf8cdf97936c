"""The paper's published numbers (``published.yaml``) and the rule that sets them beside ours.

A published value stands beside a run only when both measure the same thing: the same
experiment, dataset, method label, n and metric (and gene and cosine definition for gene
transfer), the same minimised cost, the run's recorded settings equal to the authors' for
every setting the entry names, and, where the entry names them, the same cost form (FRLC:
the exact dense cost or a sampled factorisation, resolved from the run's ``cost_form`` at the
entry's n) and a known objective form. Otherwise :func:`compare` returns the reason it is
withheld. The objective form (:data:`OBJECTIVES`) says which of our numbers the published
value stands beside: the plan's primal cost (the W1 / W2 columns) or a value the run records
in ``extra`` (every entropic or low-rank plan's unrounded cost, ``unrounded_cost_p1`` /
``unrounded_cost_p2``; FRLC's ``solver_objective``).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and PyYAML load lazily: the workflow imports settings_at at parse
    import pandas as pd

#: Metrics a published value may have; ``cosine`` also needs ``gene`` and ``definition``.
METRICS = ("cost_p1", "cost_p2", "seconds", "cosine")
#: Objective forms of a published value -> what ours in that form is. ``plan``: the primal
#: cost of the method's plan (the W1 / W2 columns; a low-rank or entropic plan rounded onto
#: the marginals); the others are values of the run record's ``extra`` (:func:`form_key`);
#: ``unknown``: the authors' form is not known, so the value stands beside nothing.
OBJECTIVES = {
    "plan": "the primal cost of the plan (W1 / W2 columns)",
    "solver_objective": (
        "the solver's own objective <C, P> on the cost form it ran on, for its unrounded "
        "factored plan, in the cost's units (FRLC: the authors' W_cost, rescaled)"),
    "unrounded_plan_cost": (
        "the exact <C, P> of the plan as the solver returned it, not rounded onto the "
        "marginals (the authors' estimator for entropic and low-rank plans; a mini-batch "
        "plan: the mean over batches)"),
    "unknown": "not known",
}
#: Columns of :func:`load`'s table, one row per published value.
COLUMNS = [
    "experiment", "dataset", "method", "n", "metric", "gene", "definition", "value", "cost",
    "device", "settings", "source", "how", "note", "seed", "cost_form", "objective",
]
_GROUP_KEYS = {"experiment", "dataset", "metric", "cost", "definition", "device", "source",
               "how", "methods", "by_dataset", "seed"}
_METHOD_KEYS = {"values", "settings", "settings_by_n", "note", "n", "cost", "device",
                "cost_form", "objective"}


def default_path() -> Path:
    return Path(str(resources.files("hiref.report") / "published.yaml"))


def settings_at(settings: dict | None, by_n: list | None, n: int) -> dict:
    """``settings`` merged with the first ``by_n`` entry whose ``up_to_n`` (null: no bound)
    is at least ``n``; the configuration key ``settings_by_n`` follows the same rule."""
    out = dict(settings or {})
    for entry in by_n or []:
        if entry["up_to_n"] is None or n <= entry["up_to_n"]:
            out.update(entry["settings"])
            break
    return out


def _per_n(value, n):
    """A method field given once or per n (``{n: value}``)."""
    return value.get(n) if isinstance(value, dict) else value


def _rows_of_group(group: dict, where: str) -> list[dict]:
    unknown = set(group) - _GROUP_KEYS
    if unknown or group.get("metric") not in METRICS:
        raise ValueError(
            f"{where}: unknown keys {sorted(unknown)} or metric {group.get('metric')!r} "
            f"(metrics: {', '.join(METRICS)})"
        )
    methods = group.get("methods", {})
    # by_dataset: {dataset: {n: size, method: value, ...}} for groups over several datasets.
    values = {
        (dataset, method): {entry["n"]: value}
        for dataset, entry in group.get("by_dataset", {}).items()
        for method, value in entry.items() if method != "n"
    }
    for method, spec in methods.items():
        bad = set(spec) - _METHOD_KEYS
        if bad:
            raise ValueError(f"{where}.methods.{method}: unknown keys {sorted(bad)}")
        _check_forms(spec, f"{where}.methods.{method}", group["metric"])
        if "values" in spec:
            values[(group["dataset"], method)] = spec["values"]
    rows = []
    for (dataset, method), by_key in values.items():
        spec = methods.get(method, {})
        for key, value in by_key.items():
            gene = key if group["metric"] == "cosine" else None
            n = int(spec["n"]) if gene is not None else int(key)
            rows.append({
                "experiment": group["experiment"], "dataset": dataset, "method": method,
                "n": n, "metric": group["metric"], "gene": gene,
                "definition": group.get("definition"), "value": float(value),
                "cost": _per_n(spec.get("cost", group["cost"]), n) or group["cost"],
                "device": spec.get("device", group.get("device")),
                "settings": settings_at(spec.get("settings"), spec.get("settings_by_n"), n),
                "source": " ".join(group["source"].split()),
                "how": " ".join(group.get("how", "").split()),
                "note": " ".join((_per_n(spec.get("note"), n) or "").split()),
                "seed": group.get("seed"),
                "cost_form": spec.get("cost_form"),
                "objective": spec.get("objective", "plan"),
            })
    return rows


def _check_forms(spec: dict, where: str, metric: str) -> None:
    from hiref.frlc_config import RESOLVED_COST_FORMS

    forms = spec.get("cost_form")
    if forms is not None and (not isinstance(forms, list) or not forms
                              or set(forms) - set(RESOLVED_COST_FORMS)):
        raise ValueError(f"{where}.cost_form must be a list of {RESOLVED_COST_FORMS}, got "
                         f"{forms!r}")
    if spec.get("objective", "plan") not in OBJECTIVES:
        raise ValueError(f"{where}.objective must be one of {sorted(OBJECTIVES)}, got "
                         f"{spec['objective']!r}")
    if spec.get("objective", "plan") != "plan" and metric not in ("cost_p1", "cost_p2"):
        raise ValueError(f"{where}.objective: only a cost (cost_p1, cost_p2) has an objective "
                         f"form, not {metric}")


def load(path: str | Path | None = None) -> pd.DataFrame:
    """Every published value as one row (columns :data:`COLUMNS`).

    Raises ``ValueError`` naming the file and the group for a malformed entry.
    """
    import pandas as pd
    import yaml

    path = Path(path) if path is not None else default_path()
    try:
        groups = yaml.safe_load(path.read_text())["groups"]
        rows = [row for k, g in enumerate(groups) for row in _rows_of_group(g, f"{path}: groups[{k}]")]
    except (KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a valid published-numbers file: {err}") from err
    table = pd.DataFrame(rows, columns=COLUMNS)
    keys = ["experiment", "dataset", "method", "n", "metric", "gene", "definition"]
    dup = table[table.duplicated(keys, keep=False)]
    if len(dup):
        raise ValueError(f"{path}: the same value is published twice:\n{dup[keys]}")
    return table


def _same(ours, theirs) -> bool:
    if isinstance(theirs, float) or isinstance(ours, float):
        try:
            return math.isclose(float(ours), float(theirs), rel_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(theirs, list) or isinstance(ours, list):
        return list(ours or []) == list(theirs or [])
    return ours == theirs


def _show(value) -> str:
    return "null" if value is None else repr(value)


def compare(entry: dict | pd.Series, cost: str, params: dict) -> str | None:
    """``None`` when a run (its minimised ``cost`` and complete ``params``) used the
    estimator of a published ``entry``; otherwise why the value must not stand beside it.

    An entry with a ``cost_form`` (a list of accepted forms) needs the run's ``cost_form``
    setting to resolve, at the entry's n, to one of them; an entry of ``unknown`` objective
    form stands beside no run.
    """
    if cost != entry["cost"]:
        return f"the run minimised {cost}, the paper's value is for {entry['cost']}"
    if entry["objective"] == "unknown":
        return "the paper does not say how this value was computed (objective form unknown)"
    differ = []
    forms = entry["cost_form"]
    if forms is not None:
        from hiref.frlc_config import resolve_cost_form

        setting = params.get("cost_form")
        ran = (None if setting is None
               else resolve_cost_form(entry["n"], entry["n"], cost, setting))
        if ran not in forms:
            differ.append(f"cost form {ran or 'not recorded'} here, {' or '.join(forms)} in "
                          "the paper")
    differ += [
        f"{key} = {_show(params[key]) if key in params else 'not recorded'} here, "
        f"{_show(value)} in the paper"
        for key, value in entry["settings"].items()
        if key not in params or not _same(params[key], value)
    ]
    return "; ".join(differ) or None


def form_key(entry: dict | pd.Series) -> str:
    """The key of a run's ``extra`` that holds ours in the objective form of ``entry``:
    ``solver_objective`` (under the minimised cost), or ``unrounded_cost_p1`` /
    ``unrounded_cost_p2`` for the entry's metric."""
    if entry["objective"] == "unrounded_plan_cost":
        return f"unrounded_{entry['metric']}"
    return entry["objective"]


def ours_in_form(entry: dict | pd.Series, extras: list[dict]) -> tuple[float | None, str | None]:
    """Ours in the objective form of a published ``entry`` whose form is not ``plan``: the
    mean over runs of ``extra[form_key(entry)]`` (``extras``: each run's ``extra``), and
    ``None``; or ``(None, why)`` when a run did not record it."""
    key = form_key(entry)
    missing = sum(key not in extra for extra in extras)
    if missing or not extras:
        return None, (f"{missing or 'no'} of {len(extras)} runs recorded extra.{key} (the "
                      f"paper's form: {OBJECTIVES[entry['objective']]})")
    return sum(float(extra[key]) for extra in extras) / len(extras), None
