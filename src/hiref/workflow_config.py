"""Checks of the workflow's configuration against ``config/schema.yaml``, before any job runs.

Every problem is one line naming its key path and what is wrong (never the schema itself):
the schema check fills in every default and stops at the first violation; the experiment
check then lists every unknown name, invalid method label (``minibatch-0``) and invalid
per-experiment setting, each validated against the same schema as ``methods.<name>``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping

import jsonschema
import yaml

from hiref import methods as registry


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem, one per line."""


def load_schema(path: str | os.PathLike) -> dict:
    """config/schema.yaml with its parts generated from the method registry: ``methods.<name>``
    of every registered method (:meth:`hiref.methods.spec.MethodSpec.schema`) and the method
    names in the description of an experiment's ``methods``."""
    with open(path) as fh:
        schema = yaml.safe_load(fh)
    methods = schema["properties"]["methods"]
    if "properties" in methods:
        raise ValueError(f"{path}: methods.properties is generated from the method "
                         "registry (hiref.methods); remove it from the file")
    methods["properties"] = {name: spec.schema() for name, spec in registry.METHODS.items()}
    labels = schema["$defs"]["experiment"]["properties"]["methods"]
    labels["description"] = labels["description"].format(
        method_names=", ".join(registry.METHODS), sweep_settings=_sweep_settings())
    return schema


def _sweep_settings() -> str:
    """``"minibatch and minibatch_exact: batch_size, bspot: n_plans"``."""
    by_setting = {}
    for name, spec in registry.METHODS.items():
        if spec.sweep is not None:
            by_setting.setdefault(spec.sweep, []).append(name)
    return ", ".join(f"{' and '.join(names)}: {setting}" for setting, names in by_setting.items())


def _error_line(error: jsonschema.ValidationError, where: str = "") -> str:
    """``key.path: message``; for a value that matches none of several schemas (``oneOf``),
    the message of the alternative it came closest to."""
    error = jsonschema.exceptions.best_match([error])
    path = ".".join([where] * bool(where) + [str(part) for part in error.absolute_path])
    return f"{path or 'config'}: {error.message}"


def _with_defaults(validator_class):
    """A validator that fills in each property's ``default`` (a copy) before checking it."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in props.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def validate(config: dict, schema: dict) -> None:
    """Fills ``config`` with the schema's defaults, in place; raises :class:`ConfigError`
    with one line for the most relevant violation."""
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"invalid configuration: {_error_line(error)}")


def run_params(config: dict, experiment: str, label: str, n: int, schema: dict) -> dict:
    """Complete settings of one run of the method ``label`` (``minibatch-512``) at ``n`` in
    ``experiment`` of a validated ``config``: defaults < ``methods.<name>`` < the experiment's
    ``settings`` < its ``settings_by_n`` entry for ``n`` < the label's sweep value (checked
    against the schema: ``minibatch-0`` is refused with a ``ValueError``)."""
    from hiref.report.published import settings_at

    exp = config["experiments"][experiment]
    name, _ = registry.parse_label(label)
    problems = label_errors(label, "method", schema)
    if problems:
        raise ValueError("; ".join(problems))
    settings = settings_at({**config["methods"][name], **exp["settings"].get(name, {})},
                           exp["settings_by_n"].get(name), n)
    return registry.resolve_params(label, settings, exp["cost"])


#: The one method an experiment's ``shard`` setting splits across jobs (hiref.shard).
SHARDED_METHOD = "hiref_refined"


def settings_errors(settings, method: str, where: str, schema: dict) -> list[str]:
    """Problems of ``settings`` for ``method`` under the schema of ``methods.<method>`` (its
    types and limits, no defaults filled in), each naming its key path below ``where``."""
    method_schema = schema["properties"]["methods"]["properties"][method]
    validator = jsonschema.Draft202012Validator({**method_schema, "$defs": schema["$defs"]})
    return [_error_line(e, where) for e in sorted(validator.iter_errors(settings), key=str)]


def label_errors(label: str, where: str, schema: dict) -> list[str]:
    """Problems of a method label: an unknown name, or a sweep value the schema refuses
    (``minibatch-0``: batch_size below its minimum)."""
    try:
        name, from_label = registry.parse_label(label)
    except ValueError:
        return [f"{where}: unknown method {label!r}; allowed: {', '.join(registry.labels_help())}"]
    return settings_errors(from_label, name, f"{where}[{label}]", schema)


def experiment_errors(
    config: Mapping, datasets: Iterable[str], studies: Iterable[str], schema: dict
) -> list[str]:
    """Every problem of the experiments of a schema-valid ``config``: unknown experiment,
    dataset and method names, invalid labels and per-experiment settings."""
    experiments = config["experiments"]
    datasets, studies = set(datasets), set(studies)
    problems = []

    def unknown(key, values, allowed):
        problems.extend(
            f"{key}: unknown name {value!r}; allowed: {', '.join(sorted(allowed))}"
            for value in values if value not in allowed
        )

    unknown("run", config["run"], set(experiments) | studies)
    for figure in ("runtime_scaling", "alignment"):
        if config["figures"][figure] is not None:
            unknown(f"figures.{figure}", [config["figures"][figure]], experiments)
    for name, experiment in experiments.items():
        where = f"experiments.{name}"
        unknown(f"{where}.datasets", experiment["datasets"], datasets)
        for label in experiment["methods"]:
            problems += label_errors(label, f"{where}.methods", schema)
        unknown(f"{where}.settings", experiment["settings"], registry.METHODS)
        for method, settings in experiment["settings"].items():
            if method in registry.METHODS:
                problems += settings_errors(settings, method, f"{where}.settings.{method}",
                                            schema)
        unknown(f"{where}.settings_by_n", experiment["settings_by_n"], registry.METHODS)
        for method, entries in experiment["settings_by_n"].items():
            for k, entry in enumerate(entries if method in registry.METHODS else []):
                problems += settings_errors(entry["settings"], method,
                                            f"{where}.settings_by_n.{method}[{k}].settings", schema)
        if experiment["shard"] is not None and SHARDED_METHOD not in {
                registry.parse_label(label)[0] for label in experiment["methods"]
                if not label_errors(label, "", schema)}:
            problems.append(
                f"{where}.shard: only {SHARDED_METHOD} runs (our solver) can be sharded, and "
                f"this experiment runs {experiment['methods']}; remove `shard` or add "
                f"{SHARDED_METHOD} (hiref, the authors' algorithm, runs in one job)")
    for label in config["figures"]["alignment_methods"]:
        problems += label_errors(label, "figures.alignment_methods", schema)
    return problems


def shard_level_error(where: str, levels: int, schedule: list[int], n: int) -> str | None:
    """The problem of sharding a run of ``schedule`` (at ``n`` points) after ``levels``
    low-rank levels, or None."""
    available = len(schedule) - 1
    if levels <= available:
        return None
    return (f"{where}.shard.levels = {levels}: {SHARDED_METHOD} at n = {n} has the schedule "
            f"{schedule}, {available} low-rank level(s) before its leaves; use levels <= "
            f"{available}" if available else
            f"{where}.shard.levels = {levels}: {SHARDED_METHOD} at n = {n} has the schedule "
            f"{schedule}, a single leaf: nothing to shard; set shard: null")


#: The "default" of a key the user must give (see :func:`schema_keys`).
REQUIRED = "(required)"


def schema_keys(schema: dict) -> list[tuple[str, str, object]]:
    """``(key path, description, default)`` of every key the schema documents, in order;
    ``<name>`` stands for user-chosen keys (experiments, ...), and keys without a default
    that must be given have :data:`REQUIRED`. config/README.md lists them all."""
    defs = schema.get("$defs", {})

    def resolve(node):
        while "$ref" in node:
            node = {**defs[node["$ref"].rsplit("/", 1)[1]],
                    **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def walk(node, path, default):
        node = resolve(node)
        rows = [(path, " ".join(node.get("description", "").split()), default)] if path else []
        for name, child in node.get("properties", {}).items():
            required = name in node.get("required", ())
            rows += walk(child, f"{path}.{name}" if path else name,
                         REQUIRED if required else resolve(child).get("default"))
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in resolve(extra):
            rows += walk(extra, f"{path}.<name>", None)
        return rows

    return walk(schema, "", None)


def keys_markdown(schema: dict) -> str:
    """The table of config/README.md: every key path, its default and its description."""

    def cell(text) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| key | default | description |", "|---|---|---|"]
    for path, description, default in schema_keys(schema):
        if path.endswith("<name>") or default == REQUIRED:
            shown = "—" if default is None else default
        else:
            shown = f"`{cell(json.dumps(default))}`"
        lines.append(f"| `{path}` | {shown} | {cell(description)} |")
    return "\n".join(lines) + "\n"


def check_experiments(config, datasets, studies, schema) -> None:
    """Raises :class:`ConfigError` listing every problem of :func:`experiment_errors`."""
    problems = experiment_errors(config, datasets, studies, schema)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
