"""Hierarchical Refinement optimal transport in JAX (Halmos et al., ICML 2025)."""

from hiref.config import COSTS, Alignment, HiRefConfig

__all__ = ["COSTS", "Alignment", "HiRefConfig"]
__version__ = "0.1.0"
