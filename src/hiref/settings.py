"""Documented settings: frozen-dataclass fields that carry their documentation and limits,
and the JSON schema generated from them (``methods.<name>`` of the workflow's configuration,
see :meth:`hiref.methods.spec.MethodSpec.schema`).

A field's type in the schema is its annotation; its limits are JSON-schema keywords given to
:func:`setting`; its description is the ``doc`` given to :func:`setting`, else (a field
declared with a plain default) its entry in the class docstring's ``Attributes:`` section.
Pure Python: the workflow reads settings while it parses its rules.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import re
import types
import typing

#: Python types of annotations -> JSON-schema types.
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string",
               type(None): "null"}
#: ``  name: text`` or ``  name, other: text``: an entry of a docstring's Attributes section.
_ENTRY = re.compile(r"^ {2}(?P<names>\w+(?:, \w+)*): (?P<text>.*)$")


def setting(default, doc: str, **limits) -> dataclasses.Field:
    """A dataclass field with its ``default``, ``doc`` (what the configuration's documentation
    says about it) and ``limits``: JSON-schema keywords (``minimum``, ``exclusiveMinimum``,
    ``maximum``, ``exclusiveMaximum``, ``enum``, ``items``, ``minItems``) that the workflow
    checks before any job runs; they should be the solver's own limits."""
    return dataclasses.field(default=default, metadata={"doc": doc, "limits": limits})


def check_positive_integers(settings, *names: str) -> None:
    """Raises ``ValueError`` naming ``Class.name`` for the first of ``names`` whose value in
    ``settings`` (a dataclass instance) is not an integer of at least 1 (bools refused)."""
    for name in names:
        value = getattr(settings, name)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(settings).__name__}.{name} must be a positive integer, "
                             f"got {value!r}.")


def check_positive_numbers(settings, *names: str) -> None:
    """Raises ``ValueError`` naming ``Class.name`` for the first of ``names`` whose value in
    ``settings`` is not a finite real number above 0 (bools refused)."""
    for name in names:
        value = getattr(settings, name)
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not math.isfinite(value) or value <= 0):
            raise ValueError(f"{type(settings).__name__}.{name} must be a positive number, "
                             f"got {value!r}.")


def check_choice(settings, name: str, choices: tuple[str, ...]) -> None:
    """Raises ``ValueError`` naming ``Class.name`` and ``choices`` when the value of ``name`` in
    ``settings`` is not one of them."""
    value = getattr(settings, name)
    if value not in choices:
        raise ValueError(f"{type(settings).__name__}.{name} must be one of {choices}, got "
                         f"{value!r}.")


def spelled_out(cls, **values):
    """``cls(**values)``, refusing to fill any field from its default: a value defined this
    way does not change when the class's defaults change."""
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in values]
    if missing:
        raise TypeError(f"{cls.__name__}: spell out every field; missing {missing}")
    return cls(**values)


def as_params(settings) -> dict:
    """The fields of a settings instance as JSON values (tuples become lists)."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(settings).items()}


def from_params(cls, params: dict):
    """An instance of settings class ``cls`` from the fields of ``params`` (other keys, such as
    ``cost``, are ignored; lists become tuples)."""
    return cls(**{f.name: tuple(params[f.name]) if isinstance(params[f.name], list)
                  else params[f.name] for f in dataclasses.fields(cls) if f.name in params})


def properties(settings) -> dict[str, dict]:
    """JSON schema of each field of ``settings`` (a dataclass instance): description, type,
    limits, and the instance's value as the default."""
    cls = type(settings)
    hints = typing.get_type_hints(cls)
    documented, values = _docstring_entries(cls), as_params(settings)
    out = {}
    for field in dataclasses.fields(cls):
        schema = _json_type(hints[field.name])
        for key, value in field.metadata.get("limits", {}).items():
            schema[key] = {**schema.get(key, {}), **value} if key == "items" else value
        doc = field.metadata.get("doc") or documented.get(field.name, "")
        out[field.name] = {"description": doc, **schema, "default": values[field.name]}
    return out


def _json_type(hint) -> dict:
    """``int`` -> ``{"type": "integer"}``; ``tuple[int, ...] | None`` -> ``{"type": ["array",
    "null"], "items": {"type": "integer"}}``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [_json_type(arg) for arg in typing.get_args(hint)]
        merged = {k: v for part in parts for k, v in part.items() if k != "type"}
        return {"type": [part["type"] for part in parts], **merged}
    if typing.get_origin(hint) in (tuple, list):
        return {"type": "array", "items": _json_type(typing.get_args(hint)[0])}
    if hint not in _JSON_TYPES:
        raise TypeError(f"no JSON-schema type for a setting of type {hint!r}")
    return {"type": _JSON_TYPES[hint]}


def _docstring_entries(cls) -> dict[str, str]:
    """Field name -> its text in the class docstring's ``Attributes:`` section (continuation
    lines joined, double back-quotes made single)."""
    entries, current, inside = {}, None, False
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        if line.strip() == "Attributes:":
            inside = True
        elif inside and (match := _ENTRY.match(line)):
            current = [match["text"]]
            entries.update(dict.fromkeys(match["names"].split(", "), current))
        elif inside and current is not None and line.startswith("    "):
            current.append(line.strip())
        elif inside and line.strip():
            break
    return {name: " ".join(text).replace("``", "`") for name, text in entries.items()}
