"""Settings of FRLC (:mod:`hiref.frlc`), apart from the solver so that the method registry
reads them without importing JAX."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hiref.settings import check_choice, check_positive_integers, check_positive_numbers, setting

#: Settings of ``FRLCConfig.cost_form``; :func:`resolve_cost_form` names what runs.
COST_FORMS = ("auto", "dense_matrix", "dense_tiled", "factors")
#: Forms a run records (``extra.cost_form``): the exact cost as one matrix or in row tiles
#: (the same estimator, two memory layouts), exact squared-Euclidean factors, or a sampled
#: factorisation of the Euclidean cost (an approximation: a different estimator).
RESOLVED_COST_FORMS = ("dense_matrix", "dense_tiled", "factors_exact", "factors_sampled")
#: Settings of ``FRLCConfig.initial_latent``: how the first gradient sees the initial latent
#: coupling ``T`` (every later gradient sees ``diag(1/g_Q) T diag(1/g_R)``).
INITIAL_LATENTS = ("coupling", "inverse")
#: Settings of ``FRLCConfig.projection``: how the projections' Sinkhorn rounds are evaluated
#: (the same rounds, two float32 evaluations; docs/frlc.md, "Projections" in "The solver").
PROJECTIONS = ("log_domain", "scalings")
#: ``cost_form="auto"`` materialises the dense cost up to this many entries and tiles it above.
#: Not ``hiref.config.BLOCK_ENTRIES``, although equal today: this one picks which form a run
#: uses and records (``extra.cost_form``), so retuning the memory of a block must not change it.
DENSE_MATRIX_ENTRIES = 1 << 24


def resolve_cost_form(n: int, m: int, cost: str, cost_form: str) -> str:
    """The form of the cost an FRLC run on ``n x m`` points under ``cost`` uses (one of
    :data:`RESOLVED_COST_FORMS`). ``auto`` never leaves the exact dense cost: it only chooses
    between holding it as one matrix and computing it in tiles."""
    if cost_form == "auto":
        return "dense_matrix" if n * m <= DENSE_MATRIX_ENTRIES else "dense_tiled"
    if cost_form == "factors":
        return "factors_exact" if cost == "sqeuclidean" else "factors_sampled"
    return cost_form


@dataclass(frozen=True)
class FRLCConfig:
    """Settings of FRLC; defaults are the authors' FRLC baseline on MOSTA (rank 40).

    Attributes:
      rank: rank ``r`` of the coupling (the latent coupling is ``r x r``).
      gamma: mirror-descent step size before normalisation by the gradient's largest entry.
      max_iter, min_iter: at most / at least this many outer iterations.
      inner_iters_balanced: Sinkhorn updates projecting ``T`` (and initialising ``Q``, ``R``,
        ``T``).
      inner_iters_relaxed: semi-relaxed updates projecting ``Q`` and ``R``.
      tau_in: weight of the KL penalty on the inner marginals in the semi-relaxed projections
        (large: nearly fixed inner marginals).
      tol: the convergence threshold of ``gamma_k^-2 (|dQ|_F + |dR|_F + |dT|_F)``.
      cost_form: how the cost enters the solver (see :func:`resolve_cost_form`):
        ``"dense_matrix"`` (the exact n x m matrix, normalised by its largest entry),
        ``"dense_tiled"`` (the same cost, every product with it computed in row tiles from the
        coordinates: memory linear in n, time n^2 rank per product), ``"factors"`` (exact
        squared-Euclidean factors, or a sampled Euclidean factorisation: linear time) or
        ``"auto"`` (dense: a matrix up to ``DENSE_MATRIX_ENTRIES`` entries, tiled above).
      projection: how the projections' rounds are evaluated (:data:`PROJECTIONS`):
        ``"log_domain"`` as the authors' code, or ``"scalings"`` (matrix-vector products).
      cost_rank: rank of the sampled Euclidean factorisation.
      initial_latent: what the first gradient takes for the latent transition
        ``Lambda``: ``"coupling"``, ``diag(1/g_Q) T diag(1/g_R)`` of the initial ``T``, as
        every later gradient; ``"inverse"``, ``inv(T)``, as the authors' code (``FRLC_opt``,
        ``FRLC_LR_opt``) does when the two ranks are equal, a leftover of another
        parametrisation: its first step is a large move of ``Q`` and ``R`` in a random
        direction (the normalised step of a gradient through a random matrix's inverse).
      cost_eps: the factorisation samples ``ceil(cost_rank / cost_eps)`` landmark rows and
        columns (at most n) and keeps ``cost_rank`` singular directions of their core.
    """

    # Each field's doc and limits (hiref.settings.setting) document and check the workflow's
    # methods.frlc; __post_init__ enforces the same limits on any FRLCConfig.
    rank: int = setting(40, "Rank of the coupling.", minimum=1)
    gamma: float = setting(30.0, "Mirror-descent step size, divided by the gradient's largest "
                           "entry (the authors' normalisation).", exclusiveMinimum=0)
    max_iter: int = setting(60, "Largest number of outer iterations.", minimum=1)
    min_iter: int = setting(25, "Smallest number of outer iterations before the convergence "
                            "criterion may stop the solver.", minimum=1)
    inner_iters_balanced: int = setting(100, "Sinkhorn updates projecting the latent "
                                        "coupling T (and initialising Q, R and T).", minimum=1)
    inner_iters_relaxed: int = setting(40, "Semi-relaxed Sinkhorn updates projecting Q and R.",
                                       minimum=1)
    tau_in: float = setting(1e5, "KL penalty weight on the inner marginals in the semi-relaxed "
                            "projections (large: nearly fixed inner marginals).",
                            exclusiveMinimum=0)
    tol: float = setting(5e-6, "Convergence threshold of gamma_k^-2 (|dQ|_F + |dR|_F + |dT|_F), "
                         "on the cost normalised to [0, 1].", exclusiveMinimum=0)
    cost_form: str = setting(
        "auto", "How the cost enters FRLC (each run records the form that ran as "
        "extra.cost_form; docs/frlc.md). dense_matrix: the exact n x m cost divided by its "
        "largest entry; dense_tiled: the same cost, every product computed in row tiles from "
        "the coordinates (memory linear in n, time n^2 rank per product); factors: exact "
        "squared-Euclidean factors, or a sampled Euclidean factorisation (cost_rank, "
        "cost_eps), an approximation; auto: the exact dense cost, as a matrix up to 2^24 "
        "entries and tiled above (never factors).", enum=list(COST_FORMS))
    initial_latent: str = setting(
        "coupling", "What FRLC's first gradient takes for the latent transition: coupling "
        "(diag(1/g_Q) T diag(1/g_R) of the initial T, as every later gradient) or inverse "
        "(inv(T), as the authors' code: a large first move in a random direction; the "
        "authors' HiRef uses it).", enum=list(INITIAL_LATENTS))
    projection: str = setting(
        "log_domain", "How the projections' Sinkhorn rounds are evaluated: log_domain (a "
        "log-sum-exp over every entry per half-round, as the authors' code) or scalings (the "
        "same rounds as two matrix-vector products on scalings of a stabilised kernel: the same "
        "plans to float32 rounding, faster where the projections dominate, e.g. 2.5 x on the "
        "authors' HiRef's rank-767 blocks, 1.26 x at rank 1830; docs/frlc.md).",
        enum=list(PROJECTIONS))
    cost_rank: int = setting(40, "Rank of the sampled Euclidean cost factorisation.", minimum=1)
    cost_eps: float = setting(0.04, "The Euclidean factorisation samples ceil(cost_rank / "
                              "cost_eps) landmark rows and columns (the authors' eps).",
                              exclusiveMinimum=0, maximum=1)

    def __post_init__(self):
        check_positive_integers(self, "rank", "max_iter", "min_iter", "inner_iters_balanced",
                                "inner_iters_relaxed", "cost_rank")
        check_positive_numbers(self, "gamma", "tau_in", "tol", "cost_eps")
        if self.min_iter > self.max_iter:
            raise ValueError(f"FRLCConfig.min_iter = {self.min_iter} exceeds max_iter = "
                             f"{self.max_iter}; lower min_iter or raise max_iter.")
        if self.cost_eps > 1:
            raise ValueError(f"FRLCConfig.cost_eps must lie in (0, 1], got {self.cost_eps!r}.")
        check_choice(self, "initial_latent", INITIAL_LATENTS)
        check_choice(self, "projection", PROJECTIONS)
        check_choice(self, "cost_form", COST_FORMS)

    def replace(self, **changes) -> FRLCConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
