"""The paper's HiRef as the workflow method ``hiref``: the authors' algorithm
(:func:`hiref.solve_authors`: FRLC at every level, their soft split, their rank-``Q`` last
level), with every setting of theirs spelled out (:data:`PAPER_SETTINGS`). Our improved
solver is ``hiref_refined`` (:mod:`.hierarchical`)."""

from __future__ import annotations

from hiref.authors_config import AuthorsSettings, schedule
from hiref.methods import outputs
from hiref.methods.common import MethodResult
from hiref.methods.spec import MethodSpec
from hiref.provenance import log
from hiref.settings import from_params, spelled_out

#: The authors' HiRef as their code ran the paper's MOSTA, MERFISH and ImageNet experiments
#: (``HR_OT.py`` and ``FRLC.py`` of February 2025; docs/authors-hiref.md): schedule with
#: hierarchy_depth 6, max_Q 1024, max_rank 16; FRLC with gamma 30, 60 / 25 iterations, inner
#: 100 / 40, tau_in 1e5, inv(T) in the first gradient, tolerance 5e-6 on the factored levels
#: and 1e-5 on the dense last level; Euclidean factors sampled with eps 0.04. Their last
#: level's projections are evaluated on scalings (the same rounds, 0.25-0.59 of the time on
#: MOSTA; docs/authors-hiref.md, "Projections on the last level"). Every value is
#: spelled out, so no change of AuthorsSettings' defaults can change it. Experiments set
#: their runs' values (config/config.yaml; the synthetic sweep: 50 / 15 iterations).
PAPER_SETTINGS = spelled_out(
    AuthorsSettings, hierarchy_depth=6, max_q=1024, max_rank=16, gamma=30.0, max_iter=60,
    min_iter=25, inner_iters_balanced=100, inner_iters_relaxed=40, tau_in=1e5,
    initial_latent="inverse", last_level_projection="scalings", tol_factored=5e-6,
    tol_dense=1e-5, distance_eps=0.04, block_memory_mb=256,
)


#: Work per point of the rank-Q last level, per Q^2 (``MethodSpec.point_work``): its FRLC on
#: a Q-point block costs about Q^3 per iteration. Measured through the workflow on the seven
#: MOSTA stand-in pairs (30-D, Q = 439 to 1022, two CPU cores, the last level on scalings,
#: beside other work; profiles/measured_jobs.tsv): 44 s to 30.6 minutes a job. This weight
#: asks for 7 to 94 minutes there, 2.8 to 9.5 times the measured wall time; 28 h at
#: ImageNet's shape (350 rank-1830 blocks, 51.8 s each alone here: about 5 h) and 15 h for
#: MERFISH's 22 blocks of 3826 (789 s each alone here: about 4.8 h).
LAST_LEVEL_WEIGHT = 0.02


def last_level_work(settings: dict, n: int) -> float:
    """The ``point_work`` of the authors' HiRef: ``LAST_LEVEL_WEIGHT * Q^2``, ``Q`` the last
    level's rank (block size) of its schedule for ``n``."""
    return LAST_LEVEL_WEIGHT * schedule(n, from_params(AuthorsSettings, settings))[-1] ** 2


def run_authors_hiref(x, y, params, seed) -> MethodResult:
    """The authors' HiRef (:func:`hiref.solve_authors`) with the run's settings."""
    from hiref.authors import describe_progress, solve_authors

    align = solve_authors(
        x, y, cost=params["cost"], settings=from_params(AuthorsSettings, params), seed=seed,
        progress=lambda info: log(describe_progress(info)),
    )
    return MethodResult(
        cost_p1=align.cost_p1, cost_p2=align.cost_p2, seconds=align.seconds, perm=align.perm,
        compile_seconds=align.compile_seconds,
        extra={"schedule": align.schedule, "level_seconds": align.level_seconds, **align.extra},
    )


HIREF = MethodSpec(
    "hiref", PAPER_SETTINGS, run_authors_hiref, outputs.BIJECTION,
    description="The paper's HiRef, the authors' algorithm (hiref.solve_authors; "
                "docs/authors-hiref.md): their rank schedule (hierarchy_depth, max_q, "
                "max_rank); at every level an FRLC solve of each block with their settings "
                "and initialisation, on their sampled Euclidean factors (exact factors for the "
                "squared Euclidean cost) above the last level and the dense cost at the last "
                "level (rank Q), and their greedy top-capacity split; defaults: their code "
                "of February 2025 (the synthetic sweep ran 50 / 15 iterations).",
    estimator="the authors' HiRef: their schedule, FRLC at every level (sampled cost factors "
              "above the last level, the dense cost at rank Q on the last), their greedy "
              "top-capacity split into equal co-clusters and finally singletons; cost of the "
              "bijection (their compute_OT_cost)",
    legend="HiRef, the authors' algorithm (FRLC splits, rank-Q last level)", uses_jax=True,
    limit="a rank-Q FRLC on every Q-point block of the last level: seconds per block on a CPU",
    point_work=last_level_work,
    size_check=lambda params, n: schedule(n, from_params(AuthorsSettings, params)),
)
