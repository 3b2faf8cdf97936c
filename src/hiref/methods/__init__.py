"""The workflow's OT methods: one :class:`MethodSpec` per method, and the registry that the
workflow's ``method`` wildcard is checked against.

A method is one module defining its specification (settings, runner, output form, memory and
work growth, legend, estimator; :mod:`.spec`) plus one line of :data:`REGISTRY`; the
configuration schema's ``methods`` section, its documentation, the cluster requests, figure
legends and the ``.npz`` keys are generated from the specifications (docs/add-a-method.md).

Beside a published number stands the authors' estimator under the paper's name (``hiref``,
``sinkhorn``, ``progot``, ``frlc``, ``minibatch``); our stronger variants stand beside it under
their own names (``hiref_refined``, ``minibatch_exact``). Adapters live in one module per
family (:mod:`.authors_hiref`, :mod:`.hierarchical`, :mod:`.entropic`, :mod:`.low_rank`,
:mod:`.matching`); plans are scored by :mod:`.scoring`. Baselines call their libraries
(ott-jax, POT, SciPy); FRLC, which neither ships, is :mod:`hiref.frlc`. Solver seconds exclude
JIT compilation (compiled ahead of time, reported separately as ``compile_seconds``) and are
taken after ``block_until_ready``.

Importing this package imports neither JAX nor a solver library (adapters import them when
they run), so the workflow can be parsed without them.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Mapping

import numpy as np

from hiref.config import COSTS
from hiref.methods.common import MethodResult
from hiref.methods.outputs import OutputForm
from hiref.methods.scoring import (
    lowrank_plan_argmax,
    lowrank_plan_costs,
    matching_costs,
    mean_cost,
)
from hiref.methods.spec import NAME, MethodSpec
from hiref.provenance import log
from hiref.seeds import check_seed

__all__ = [
    "EXTRA_METHODS", "METHODS", "REGISTRY", "MethodResult", "MethodSpec", "expand_labels",
    "label_pattern", "labels_help", "load_registry", "lowrank_plan_argmax",
    "lowrank_plan_costs", "matching_costs", "mean_cost", "output_forms", "parse_label",
    "registry_lines", "resolve_params", "run", "size_error", "skip_reason",
]

#: The registry: ``"module:NAME"`` of each method's :class:`MethodSpec`, one line per method,
#: in the order of tables, legends and messages.
REGISTRY = (
    "hiref.methods.authors_hiref:HIREF",
    "hiref.methods.hierarchical:HIREF_REFINED",
    "hiref.methods.entropic:SINKHORN",
    "hiref.methods.entropic:PROGOT",
    "hiref.methods.low_rank:LOT",
    "hiref.methods.low_rank:FRLC",
    "hiref.methods.entropic:MINIBATCH",
    "hiref.methods.matching:MINIBATCH_EXACT",
    "hiref.methods.matching:EXACT",
    "hiref.methods.matching:BSPOT",
)
#: Environment variable adding registry lines, comma-separated, after :data:`REGISTRY`
#: (a method outside this package: its module must be importable, e.g. on PYTHONPATH).
#: Snakemake's jobs inherit it, locally and on SLURM (``--export=ALL``).
EXTRA_METHODS = "HIREF_METHODS"


def load_registry(entries: Iterable[str]) -> dict[str, MethodSpec]:
    """Method name -> specification of each registry line ``"module:NAME"``, in order."""
    methods = {}
    for entry in entries:
        module, _, name = entry.strip().partition(":")
        try:
            spec = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as err:
            raise ValueError(f"method registry line {entry!r} ('module:NAME' of a MethodSpec): "
                             f"{err}") from err
        if not isinstance(spec, MethodSpec):
            raise TypeError(f"method registry line {entry!r} names a {type(spec).__name__}, "
                            "not a hiref.methods.spec.MethodSpec")
        if spec.name in methods:
            raise ValueError(f"method registry line {entry!r}: a method {spec.name!r} is "
                             "registered already")
        methods[spec.name] = spec
    return methods


def registry_lines(environ: Mapping[str, str] = os.environ) -> list[str]:
    """:data:`REGISTRY` and the lines of :data:`EXTRA_METHODS` in ``environ``."""
    extra = [line.strip() for line in environ.get(EXTRA_METHODS, "").split(",") if line.strip()]
    return [*REGISTRY, *extra]


METHODS: dict[str, MethodSpec] = load_registry(registry_lines())


def output_forms() -> list[OutputForm]:
    """The output forms of the registered methods, each once, in registry order."""
    return list(dict.fromkeys(spec.output for spec in METHODS.values()))


_LABEL = re.compile(rf"(?P<name>{NAME.pattern})(?:-(?P<value>\d+))?")


def label_pattern() -> str:
    """Regular expression of every valid method label (the ``method`` wildcard)."""
    return "|".join(
        name + (r"(?:-\d+)?" if method.sweep else "") for name, method in METHODS.items()
    )


def parse_label(label: str) -> tuple[str, dict]:
    """``"minibatch-128"`` -> ``("minibatch", {"batch_size": 128})``; ``"lot"`` -> ``("lot", {})``."""
    match = _LABEL.fullmatch(label)
    method = METHODS.get(match["name"]) if match else None
    if method is None or (match["value"] is not None and method.sweep is None):
        raise ValueError(f"unknown method {label!r}; known: {', '.join(labels_help())}")
    return match["name"], ({} if match["value"] is None else {method.sweep: int(match["value"])})


def labels_help() -> list[str]:
    return [name + (f"[-<{m.sweep}>]" if m.sweep else "") for name, m in METHODS.items()]


def expand_labels(name: str, settings: dict) -> list[str]:
    """The labels a configured method runs as: one per value of its sweep setting."""
    sweep = METHODS[name].sweep
    if sweep is None or not isinstance(settings.get(sweep), list):
        return [name]
    return [f"{name}-{value}" for value in settings[sweep]]


def resolve_params(label: str, settings: dict | None = None, cost: str = "sqeuclidean") -> dict:
    """Complete settings of a run: defaults, overridden by ``settings`` (the method's
    configuration), by the label's sweep value, and the experiment's ``cost``."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    name, from_label = parse_label(label)
    method = METHODS[name]
    defaults = method.defaults
    unknown = set(settings or {}) - set(defaults)
    if unknown:
        raise ValueError(
            f"methods.{name}: unknown setting(s) {sorted(unknown)}; known: {sorted(defaults)}"
        )
    params = {**defaults, **(settings or {}), **from_label, "cost": cost}
    if isinstance(params.get(method.sweep), list):
        # A list is a sweep; without a label choosing one value, the first is meant.
        params[method.sweep] = params[method.sweep][0]
    return params


def skip_reason(label: str, params: dict, n_x: int, n_y: int) -> str | None:
    """Why method ``label`` with complete ``params`` does not run on ``n_x`` x ``n_y`` points
    (``None``: it runs). Known before any data is read, so the workflow also uses it to give
    skipped runs no GPU and the smallest cluster request."""
    name, _ = parse_label(label)
    method = METHODS[name]
    if n_x != n_y:
        return f"|x| = {n_x} != |y| = {n_y}: the workflow compares bijections"
    if params["cost"] not in method.costs:
        return f"{name} supports cost {' or '.join(method.costs)} only, not {params['cost']}"
    if params.get("max_n") is not None and n_x > params["max_n"]:
        why = f" ({method.limit})" if method.limit else ""
        return f"n = {n_x} > methods.{name}.max_n = {params['max_n']}{why}"
    return None


def size_error(label: str, params: dict, n: int) -> str | None:
    """Why method ``label`` with complete ``params`` cannot solve ``n`` points per side (its
    spec's ``size_check``: an infeasible schedule), or ``None``. A run skipped for its size
    or cost never fails, so it has none."""
    check = METHODS[parse_label(label)[0]].size_check
    if check is None or skip_reason(label, params, n, n) is not None:
        return None
    try:
        check(params, n)
    except ValueError as err:
        return str(err)
    return None


def run(label: str, x: np.ndarray, y: np.ndarray, params: dict, seed: int) -> MethodResult:
    """Runs method ``label`` with complete ``params`` (see :func:`resolve_params`), or
    returns a ``skipped`` result (see :func:`skip_reason`). ``seed``: an integer in
    ``[0, 2**64)`` (:func:`hiref.seeds.check_seed`)."""
    seed = check_seed(seed)
    reason = skip_reason(label, params, len(x), len(y))
    if reason is not None:
        return MethodResult(status="skipped", params=params, reason=reason)
    method, n = METHODS[parse_label(label)[0]], len(x)
    log(f"{label}: n = {n}, d = {x.shape[1]}, seed = {seed}, params = {params}")
    result = method.run(x, y, params, seed)
    result.params = params
    log(f"{label}: done in {result.seconds:.3f} s, W1 {result.cost_p1:.6g}, "
         f"W2 {result.cost_p2:.6g}")
    return result
