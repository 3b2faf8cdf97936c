"""Hierarchical Refinement optimal transport in JAX (Halmos et al., ICML 2025).

The public names below are imported on first use (PEP 562), so ``import hiref`` and the
light submodules (``hiref.methods`` registry, ``hiref.provenance``, ...) do not load JAX:
the workflow parses its rules without importing JAX, scikit-learn or torch into
Snakemake's own process.
"""

import importlib

#: Public name -> the submodule that defines it (or is it: ``hiref.shard``).
_EXPORTS = {
    "COSTS": "hiref.config",
    "Alignment": "hiref.config",
    "AuthorsSettings": "hiref.authors_config",
    "HiRefConfig": "hiref.config",
    "coupling_cost": "hiref.costs",
    "plan_levels": "hiref.schedule",
    "rank_schedule": "hiref.schedule",
    "shard": "hiref.shard",
    "solve": "hiref.solver",
    "solve_authors": "hiref.authors",
    "subsample_to_match": "hiref.solver",
}

__all__ = [  # the keys of _EXPORTS
    "COSTS", "Alignment", "AuthorsSettings", "HiRefConfig", "coupling_cost", "plan_levels",
    "rank_schedule", "shard", "solve", "solve_authors", "subsample_to_match",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hiref' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"hiref.{name}" else getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
