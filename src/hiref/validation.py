"""Checks of user input, run before anything is compiled, with messages that say the fix."""

from __future__ import annotations

import dataclasses

import numpy as np

from hiref.config import (
    COSTS,
    LEAF_SOLVERS,
    MAX_DEPTH,
    MAX_EXPANSION,
    MAX_SPLIT_DIRECTIONS,
    SPLITS,
    HiRefConfig,
)
from hiref.costs import row_chunks
from hiref.settings import check_choice


def as_points(a, name: str) -> np.ndarray:
    """Returns ``a`` as a finite real (n, d) array of its own dtype, or raises ``ValueError``."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as err:  # ragged lists and other objects numpy cannot hold
        raise ValueError(f"{name} must be an array of shape (n, d); could not read it: {err}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(
            f"{name} must hold numbers, got dtype {arr.dtype}. Convert it with "
            f"np.asarray({name}, dtype=np.float32)."
        )
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} is complex; pass real coordinates (n, d).")
    if arr.ndim == 1:
        raise ValueError(
            f"{name} has shape {arr.shape}; points must be (n, d). For 1-D data use "
            f"{name}.reshape(-1, 1)."
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one point.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape}); pass at least one column.")
    # Other dtypes (integers, bool, float16, long double) are kept as they are: the solver
    # shifts and scales them in float64 before any cast (hiref.costs.normalise), so integer
    # or long-double points far from the origin keep their geometry.
    # A chunk at a time, so that the check's temporaries stay small for any input.
    bad_rows = np.concatenate([
        begin + np.flatnonzero(~np.isfinite(arr[begin:end]).all(axis=1))
        for begin, end in row_chunks(*arr.shape)
    ])
    if len(bad_rows):
        raise ValueError(
            f"{name} has {len(bad_rows)} row(s) with NaN or inf values (first: row "
            f"{bad_rows[0]}). Remove or impute them before solving."
        )
    return arr


def check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got x {x.shape} and y {y.shape}."
        )


def as_cost_matrix(cost, n: int, m: int) -> np.ndarray:
    mat = as_points(cost, "cost")
    if mat.shape != (n, m):
        raise ValueError(f"a cost matrix must have shape (n, m) = ({n}, {m}), got {mat.shape}.")
    return mat


def check_cost_name(cost) -> None:
    if isinstance(cost, str) and cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; choose one of {COSTS} or pass an (n, m) matrix.")


def check_progress(progress):
    """``progress`` must be None, a bool or a callable taking one dict."""
    if progress is None or isinstance(progress, bool) or callable(progress):
        return progress
    raise ValueError(
        f"progress must be True, False, None or a callable receiving a dict per level, got "
        f"{progress!r}."
    )


#: Integer fields of ``HiRefConfig`` and their least values, read from the fields'
#: declarations (:func:`hiref.settings.setting`), so the solver checks the limits the
#: workflow's schema documents.
_INTEGER_FIELDS = {field.name: field.metadata["limits"]["minimum"]
                   for field in dataclasses.fields(HiRefConfig)
                   if field.type in ("int", "int | None")}
#: Integer fields whose None means "chosen by the solve" (``HiRefConfig.leaf_limit``).
_AUTOMATIC_FIELDS = {field.name for field in dataclasses.fields(HiRefConfig)
                     if field.type == "int | None"}


#: Upper bounds of integer fields, with why and what to change (checked after the types).
_UPPER_BOUNDS = (
    ("depth", MAX_DEPTH,
     ("every low-rank level at least halves a block and the solver indexes points with int32 "
      f"(n < 2**31), so no schedule has more than {MAX_DEPTH} entries; lower depth.")),
    ("max_expansion", MAX_EXPANSION,
     ("|X| != |Y| is solved on copies of the points repeated up to max_expansion times (memory "
      "and work grow with it); lower max_expansion, or subsample the larger set to the smaller "
      "size with hiref.subsample_to_match.")),
    ("split_directions", MAX_SPLIT_DIRECTIONS,
     ("a half-space level scores split_directions**2 pairs of directions for every block; a "
      "few dozen already cover the half-planes of 2-D, so lower split_directions.")),
)


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value)))


def check_config(config: HiRefConfig) -> None:
    """Raises ``ValueError`` naming the field and the fix for any invalid setting."""
    if not isinstance(config, HiRefConfig):
        # ValueError like every other bad argument, so callers catch one exception type.
        raise ValueError(  # noqa: TRY004
            f"config must be a hiref.HiRefConfig, got {type(config).__name__}."
        )
    for name, low in _INTEGER_FIELDS.items():
        value = getattr(config, name)
        if value is None and name in _AUTOMATIC_FIELDS:
            continue
        if not _is_integer(value) or value < low:
            raise ValueError(
                f"HiRefConfig.{name} must be an integer >= {low}, got {value!r} "
                f"({type(value).__name__})."
            )
    if not (_is_number(config.refine_tol) and 0 <= config.refine_tol < 1):
        raise ValueError(
            f"HiRefConfig.refine_tol must be a number in [0, 1), got {config.refine_tol!r}."
        )
    if not (_is_number(config.gamma) and config.gamma > 0):
        raise ValueError(
            f"HiRefConfig.gamma must be a positive number, got {config.gamma!r} "
            f"({type(config.gamma).__name__}); e.g. gamma=5.0."
        )
    check_choice(config, "leaf_solver", LEAF_SOLVERS)
    check_choice(config, "split", SPLITS)
    if config.schedule is not None:
        if config.split == "halfspace":
            raise ValueError(
                "HiRefConfig.schedule gives the ranks of low-rank levels, but split='halfspace' "
                "halves every block; drop schedule, or set split='lowrank' (or 'auto')."
            )
        ranks = config.schedule
        # Any sequence of integers (a list, a tuple, a NumPy integer array) is a schedule.
        listed = (list(ranks) if not isinstance(ranks, (str, bytes)) and hasattr(ranks, "__len__")
                  and np.ndim(ranks) == 1 else [])
        if not listed or any(not _is_integer(r) or r < 2 for r in listed):
            raise ValueError(
                f"HiRefConfig.schedule must list integer ranks >= 2, got {config.schedule!r}; "
                "use None to let hiref choose."
            )
    for name, high, why in _UPPER_BOUNDS:
        value = getattr(config, name)
        if value > high:
            raise ValueError(f"HiRefConfig.{name} must be at most {high}, got {value}: {why}")
