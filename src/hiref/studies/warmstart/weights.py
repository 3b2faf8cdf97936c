"""Files of the study's trained networks: weights, network size and provenance in one
``.npz`` (no pickles), written atomically and refused by name when corrupt or foreign."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from hiref.provenance import atomic_path


def _flat(params) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def save(path: str | os.PathLike, params, config, meta: dict) -> None:
    """Weights (a pytree), the network's size (a dataclass) and ``meta``, atomically."""
    arrays = {f"param:{key}": value for key, value in _flat(params).items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays, config=json.dumps(dataclasses.asdict(config)),
                 meta=json.dumps(meta))


def load(path: str | os.PathLike, config_cls, init_params: Callable, what: str):
    """(weights, config, meta) of :func:`save`'s file for a network built by
    ``init_params(config, key)``; a corrupt or foreign file raises ValueError naming it
    and saying it is not ``what``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            config = config_cls(**json.loads(str(data["config"])))
            meta = json.loads(str(data["meta"]))
            stored = {key.removeprefix("param:"): data[key] for key in data.files
                      if key.startswith("param:")}
        paths, treedef = jax.tree_util.tree_flatten_with_path(init_params(config, jax.random.key(0)))
        leaves = []
        for key_path, leaf in paths:
            value = stored[jax.tree_util.keystr(key_path)]
            if value.shape != leaf.shape:
                raise ValueError(f"weight {jax.tree_util.keystr(key_path)} has shape {value.shape}")
            leaves.append(jnp.asarray(value))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path}: not {what}: {err}") from err
    return jax.tree_util.tree_unflatten(treedef, leaves), config, meta
