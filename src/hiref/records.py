"""One workflow run end to end: load the prepared pair, run a method, write its record; and
reading a record back, validated."""

from __future__ import annotations

import json
import math
import numbers
import os
import time

import numpy as np

from hiref.methods import (
    METHODS,
    MethodResult,
    output_forms,
    outputs,
    parse_label,
    run,
    skip_reason,
)

#: Keys of the ``.npz`` beside each record, always all present (empty arrays when they do not
#: apply): the keys of every registered method's output form (:mod:`hiref.methods.outputs`:
#: ``perm`` a bijection, ``map`` an argmax map, the entropic mini-batch plan's ``batch_perm``,
#: ``batch_size``, ``f``, ``g``, ``batch_epsilon``), then ``cost`` the cost name.
NPZ_KEYS = outputs.npz_keys(output_forms())


def solve_and_record(*, data, record, matching, experiment, dataset, method, params, n, seed):
    """One workflow run: loads the prepared pair, runs ``method``, writes the JSON record
    (fields in docs/results.md, "What one run writes") and the ``.npz`` of :data:`NPZ_KEYS`, atomically.

    A prepared pair larger than ``n`` is subsampled to ``n`` points per side (seeded). A run
    that its method skips at this size (:func:`hiref.methods.skip_reason`) reads only the
    pair's headers: the workflow gives it the smallest memory request.
    """
    from hiref.datasets import pair_shapes

    t0 = time.perf_counter()
    reason = skip_reason(method, params, n, n)
    if reason is not None:
        shape_x, shape_y = pair_shapes(data)
        _check_size(data, shape_x, shape_y, n)
        result, d = MethodResult(status="skipped", params=params, reason=reason), shape_x[1]
    else:
        x, y = load_run_data(data, n, seed)
        result, d = run(method, x, y, params, seed), x.shape[1]
    write_run(result, data=data, record=record, matching=matching, experiment=experiment,
              dataset=dataset, method=method, params=params, n=n, d=int(d), seed=seed,
              wall_seconds=time.perf_counter() - t0)


def _check_size(data, shape_x, shape_y, n: int) -> None:
    """``ValueError`` when a side of the pair ``data`` (of shapes ``shape_x``, ``shape_y``)
    holds fewer than ``n`` points."""
    if min(shape_x[0], shape_y[0]) < n:
        raise ValueError(f"{data} holds {shape_x[0]} x {shape_y[0]} points, fewer than n = {n}")


def load_run_data(data, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of a run: the prepared pair ``data``, each side larger than ``n``
    subsampled to ``n`` points (seeded by the run's ``seed``), each held once in memory
    aligned for JAX, so the solver uses it in place (:mod:`hiref.aligned`)."""
    from hiref.aligned import take_rows
    from hiref.datasets import load_pair

    x, y = load_pair(data)
    _check_size(data, x.shape, y.shape, n)
    rng = np.random.default_rng(seed)
    if len(x) > n:
        x = take_rows(x, np.sort(rng.choice(len(x), n, replace=False)))
    if len(y) > n:
        y = take_rows(y, np.sort(rng.choice(len(y), n, replace=False)))
    return x, y


def write_run(result: MethodResult, *, data, record, matching, experiment, dataset, method,
              params, n, d, seed, wall_seconds, peak_rss_mb=None) -> None:
    """Writes a run's ``.npz`` and then its JSON record, atomically; ``peak_rss_mb``: this
    process's peak unless given (a sharded run gives its largest job's)."""
    from hiref import provenance

    name, _ = parse_label(method)
    uses_jax = METHODS[name].uses_jax and result.status == "ok"
    out = {
        "experiment": experiment, "dataset": dataset, "method": method, "n": n,
        "d": d, "seed": seed, "cost": params["cost"],
        "status": result.status, "reason": result.reason,
        "cost_p1": result.cost_p1, "cost_p2": result.cost_p2,
        "seconds": result.seconds, "compile_seconds": result.compile_seconds,
        "wall_seconds": wall_seconds, "estimator": METHODS[name].estimator,
        "peak_rss_mb": provenance.peak_rss_mb() if peak_rss_mb is None else peak_rss_mb,
        "device": provenance.device(uses_jax),
        "stand_in": provenance.stand_in(data), "params": result.params, "extra": result.extra,
        "versions": provenance.versions(), "git_commit": provenance.git_commit(),
    }
    with provenance.atomic_path(matching) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **run_arrays(result, params["cost"], METHODS[name].output))
    provenance.write_json(record, out)


def run_arrays(result: MethodResult, cost: str, output: outputs.OutputForm
               ) -> dict[str, np.ndarray]:
    """The arrays of a run's ``.npz``: every key of :data:`NPZ_KEYS`, those of the method's
    ``output`` form filled by an ``ok`` run."""
    return {**outputs.empty_arrays(output_forms()),
            **output.arrays(result.perm, result.arrays, result.status),
            "cost": np.asarray(cost)}


_TEXT, _COUNT, _NUMBER, _MAPPING = (str,), (numbers.Integral,), (numbers.Real,), (dict,)
_FLAG = (bool,)
#: Fields every record holds -> accepted types (None where listed). Costs and seconds are
#: numbers whenever ``status`` is ``"ok"``. ``stand_in`` is true for a run on stand-in data
#: (docs/stand-ins.md): tables and figures label it and set no published value beside it.
RECORD_FIELDS = {
    "experiment": _TEXT, "dataset": _TEXT, "method": _TEXT, "n": _COUNT, "d": _COUNT,
    "seed": _COUNT, "cost": _TEXT, "status": _TEXT, "reason": (*_TEXT, type(None)),
    "cost_p1": (*_NUMBER, type(None)), "cost_p2": (*_NUMBER, type(None)),
    "seconds": (*_NUMBER, type(None)), "wall_seconds": _NUMBER, "peak_rss_mb": _NUMBER,
    "device": _TEXT, "params": _MAPPING, "extra": _MAPPING, "versions": _MAPPING,
    "git_commit": (*_TEXT, type(None)), "compile_seconds": (*_NUMBER, type(None)),
    "estimator": _TEXT, "stand_in": _FLAG,
}
STATUSES = ("ok", "skipped")


def record_problems(record) -> list[str]:
    """What makes ``record`` (a parsed JSON value) not a complete run record."""
    if not isinstance(record, dict):
        return [f"a record is a JSON object, got {type(record).__name__}"]
    problems = [f"missing field {name!r}" for name in RECORD_FIELDS if name not in record]
    for name, types in RECORD_FIELDS.items():
        value = record.get(name)
        # JSON true/false are not counts or numbers, only flags.
        if name in record and (not isinstance(value, types)
                               or (isinstance(value, bool) and types != _FLAG)):
            problems.append(f"{name} = {value!r} is not {' or '.join(t.__name__ for t in types)}")
    if "status" in record and record["status"] not in STATUSES:
        problems.append(f"status = {record['status']!r} is not one of {STATUSES}")
    if record.get("status") == "ok":
        for name in ("cost_p1", "cost_p2", "seconds"):
            value = record.get(name)
            if value is None:
                problems.append(f"{name} is null in a run with status 'ok'")
            # Costs of (squared) distances and durations: NaN, infinite or negative is a
            # failed run, never a number for a table.
            elif (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and not (math.isfinite(value) and value >= 0)):
                problems.append(f"{name} = {value!r} is not a finite non-negative number")
    return problems


def read_record(path: str | os.PathLike) -> dict:
    """A run record, validated; raises ``ValueError`` naming the file, what is wrong and the
    command that rebuilds it (an unreadable, truncated or incomplete record is never used)."""
    try:
        with open(path) as fh:
            record = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problems = [f"not readable as JSON ({err})"]
    else:
        problems = record_problems(record)
    if problems:
        raise ValueError(
            f"{path}: not a complete run record: {'; '.join(problems)}. Rerun its job: "
            f"snakemake {path} --force --cores all (add --resources gpu=0 without a GPU)"
        )
    return record
