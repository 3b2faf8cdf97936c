"""Hierarchical Refinement optimal transport in JAX (Halmos et al., ICML 2025)."""

from hiref.config import COSTS, Alignment, HiRefConfig
from hiref.costs import coupling_cost
from hiref.schedule import plan_levels, rank_schedule
from hiref.solver import solve, subsample_to_match

__all__ = [
    "COSTS", "Alignment", "HiRefConfig", "coupling_cost", "plan_levels", "rank_schedule",
    "solve", "subsample_to_match",
]
__version__ = "0.1.0"
