"""Settings of the authors' Hierarchical Refinement (:func:`hiref.solve_authors`), apart from
the solver so that the method registry reads them without importing JAX.

Every default is the authors' code (github.com/raphael-group/HiRef, ``src/HR_OT.py`` and
``src/FRLC.py``), as it ran the paper's MOSTA, MERFISH and ImageNet experiments (the solver
parameters of ``HierarchicalRefinementOT`` from February 2025, unchanged until May 2025). The
paper's synthetic sweep (half-moon -> S-curve, n = 2^5 ... 2^20) ran a month earlier with
50 / 15 iterations instead of 60 / 25: :data:`SYNTHETIC_SWEEP`. docs/authors-hiref.md gives
the commits each value was read from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hiref.frlc_config import INITIAL_LATENTS, PROJECTIONS
from hiref.schedule import plan_levels
from hiref.settings import check_choice, check_positive_integers, check_positive_numbers, setting

#: The authors' solver parameters that differ in the runs of the paper's synthetic sweep
#: (``HR_OT.py`` at commit c248907, 2025-01-25, the commit that saved the sweep's W1 values):
#: ``max_iter=50, min_iter=15``; every other value is the default.
SYNTHETIC_SWEEP = {"max_iter": 50, "min_iter": 15}
#: Fields that change how the algorithm is executed, not which: the batching of blocks (memory)
#: and the float32 evaluation of the last level's projections (time; W1 6.2130 against
#: 6.2146 on the MOSTA E10.5_E11.5 stand-in, docs/authors-hiref.md). A published value does
#: not name them, so neither keeps a run from standing beside it.
EXECUTION_FIELDS = ("block_memory_mb", "last_level_projection")


@dataclass(frozen=True)
class AuthorsSettings:
    """Settings of the authors' HiRef; the defaults are their code's (see the module).

    Attributes:
      hierarchy_depth: at most this many ranks above the last rank ``Q`` (the authors'
        ``hierarchy_depth``; :func:`hiref.plan_levels` is called with ``depth =
        hierarchy_depth + 1``, which counts ``Q`` too).
      max_q: the last rank ``Q`` is the largest divisor of ``n`` below ``max_q`` (the authors'
        exclusive ``max_Q``); for an ``n`` that does not factor so, :func:`hiref.plan_levels`
        (``max_leaf = max_q - 1``) gives blocks that differ in size by one point.
      max_rank: largest rank above ``Q``; the ranks minimise the number of sub-problems.
      gamma: FRLC's mirror-descent step (divided by the gradient's largest entry).
      max_iter, min_iter: at most / at least this many FRLC iterations per sub-problem.
      inner_iters_balanced: Sinkhorn rounds of FRLC's latent-coupling projection and of its
        random initialisation.
      inner_iters_relaxed: semi-relaxed rounds of FRLC's projections of ``Q`` and ``R``.
      tau_in: FRLC's KL weight on the inner marginals.
      initial_latent: what FRLC's first gradient takes for the latent transition
        (:class:`hiref.frlc_config.FRLCConfig`): ``"inverse"``, ``inv(T)`` of the random
        initial latent coupling, as their code; ``"coupling"``, as every later gradient.
      last_level_projection: how FRLC's projections are evaluated on the last level
        (:data:`hiref.frlc_config.PROJECTIONS`); the levels above always run the authors'
        log-domain rounds (docs/authors-hiref.md, "Projections on the last level").
      tol_factored: FRLC's convergence threshold on the factored levels (``FRLC_LR_opt``'s
        default, 5e-6).
      tol_dense: FRLC's convergence threshold on the last level, solved on the dense cost
        (``FRLC_opt``'s default, 1e-5).
      distance_eps: the Euclidean cost of a block above the last level is factorised at the
        level's rank ``r`` from ``int(r / distance_eps)`` sampled rows and columns (the
        authors' ``low_rank_distance_factorization(r, eps)``).
      block_memory_mb: memory for the blocks of one level solved at once (bounds memory,
        not results).
    """

    hierarchy_depth: int = setting(
        6, "At most this many ranks above the last rank Q (the authors' hierarchy_depth).",
        minimum=1)
    max_q: int = setting(
        1024, "The last rank Q is the largest divisor of n below max_q (the authors' max_Q); "
        "an n that does not factor so gets blocks differing in size by one point.", minimum=2)
    max_rank: int = setting(16, "Largest rank above Q (the authors' max_rank).", minimum=2)
    gamma: float = setting(30.0, "FRLC's mirror-descent step, divided by the gradient's "
                           "largest entry.", exclusiveMinimum=0)
    max_iter: int = setting(60, "At most this many FRLC iterations per sub-problem (the "
                            "synthetic sweep: 50).", minimum=1)
    min_iter: int = setting(25, "At least this many FRLC iterations per sub-problem (the "
                            "synthetic sweep: 15).", minimum=1)
    inner_iters_balanced: int = setting(100, "Sinkhorn rounds of FRLC's latent-coupling "
                                        "projection and initialisation.", minimum=1)
    inner_iters_relaxed: int = setting(40, "Semi-relaxed Sinkhorn rounds of FRLC's Q and R "
                                       "projections.", minimum=1)
    tau_in: float = setting(1e5, "FRLC's KL weight on the inner marginals.", exclusiveMinimum=0)
    initial_latent: str = setting(
        "inverse", "What FRLC's first gradient takes for the latent transition: inverse "
        "(inv(T) of the random initial T, as the authors' code) or coupling (diag(1/g_Q) T "
        "diag(1/g_R), as every later gradient).", enum=list(INITIAL_LATENTS))
    last_level_projection: str = setting(
        "scalings", "How FRLC's projections are evaluated on the last level (rank-Q blocks, "
        "nearly all of the time): scalings (matrix-vector products: the same W1 on the MOSTA "
        "stand-ins in 0.25-0.59 of the time; 1.26 x faster on a rank-1830 block) or "
        "log_domain (log-sum-exps, as the authors' code). The levels above run the "
        "log-domain rounds, whose rounding their results depend on.",
        enum=list(PROJECTIONS))
    tol_factored: float = setting(5e-6, "FRLC's convergence threshold above the last level "
                                  "(factored cost; FRLC_LR_opt's default).", exclusiveMinimum=0)
    tol_dense: float = setting(1e-5, "FRLC's convergence threshold at the last level (dense "
                               "cost; FRLC_opt's default).", exclusiveMinimum=0)
    distance_eps: float = setting(
        0.04, "Above the last level the Euclidean cost of a block is factorised at the level's "
        "rank r from int(r / distance_eps) sampled rows and columns (the authors' eps).",
        exclusiveMinimum=0, maximum=1)
    block_memory_mb: int = setting(256, "Memory for the blocks of a level solved at once "
                                   "(bounds memory, not results).", minimum=1)

    def __post_init__(self):
        check_positive_integers(self, "hierarchy_depth", "max_q", "max_rank", "max_iter",
                                "min_iter", "inner_iters_balanced", "inner_iters_relaxed",
                                "block_memory_mb")
        check_positive_numbers(self, "gamma", "tau_in", "tol_factored", "tol_dense",
                               "distance_eps")
        if self.max_q < 2 or self.max_rank < 2:
            raise ValueError(f"AuthorsSettings.max_q and max_rank must be at least 2, got "
                             f"{self.max_q} and {self.max_rank}.")
        if self.min_iter > self.max_iter:
            raise ValueError(f"AuthorsSettings.min_iter = {self.min_iter} exceeds max_iter = "
                             f"{self.max_iter}; lower min_iter or raise max_iter.")
        check_choice(self, "initial_latent", INITIAL_LATENTS)
        check_choice(self, "last_level_projection", PROJECTIONS)
        if self.distance_eps > 1:
            raise ValueError(f"AuthorsSettings.distance_eps must lie in (0, 1], got "
                             f"{self.distance_eps!r}.")

    def replace(self, **changes) -> AuthorsSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def schedule(n: int, settings: AuthorsSettings) -> list[int]:
    """The authors' ranks for ``n`` points, ``[r_1, ..., r_k, Q]`` (their
    ``optimal_rank_schedule(n, hierarchy_depth, max_Q, max_rank)`` whenever ``n`` factors).
    Raises ``ValueError`` naming what to change when none fits."""
    return plan_levels(n, settings.max_rank, settings.max_q - 1, settings.hierarchy_depth + 1)
