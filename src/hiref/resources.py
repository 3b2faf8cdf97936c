"""What one workflow job asks a cluster scheduler for: memory and wall time of a solver run
as functions of its size n, dimension d, method and attempt.

Estimates, not measurements: each is a base plus the growth of the method's dominant
arrays and work (the ``memory_growth`` and ``work_growth`` of its
:class:`~hiref.methods.spec.MethodSpec`), sized from the runs measured on the 2-core
development machine (docs/performance.md) with head-room. A retry (``attempt`` 2, 3, ...)
asks for proportionally more,
so a job killed for memory or time is resubmitted with a larger request rather than the
same one. Pure Python: the workflow evaluates them while building its DAG.
"""

from __future__ import annotations

import math

from hiref.methods import METHODS

MIB = 2**20
#: A run skipped for its size or cost does no work: the smallest request.
SKIPPED_MEM_MB, SKIPPED_RUNTIME = 1000, 5
#: d assumed for datasets whose dimension is not registered (the image embeddings' 2048).
UNKNOWN_DIMENSION = 2048
#: Bytes per point and coordinate (plus a fixed per-point overhead for labels, potentials
#: and factors) held by the linear-memory methods: the float32 pair is 8, held once. Measured
#: on the ImageNet stand-in (640500 x 2048 a side, a 9.77 GiB pair): HiRef 11.35 GiB,
#: mini-batch OT 10.5-12.1 GiB; 12 asks for 19.5 GiB there, so it fits a 24 GiB node.
LINEAR_BYTES, LINEAR_OVERHEAD = 12, 128
#: Sizes at which the growth terms add one base runtime: n^2 entries, n^3 operations and
#: n (d + overhead) for linear methods. Measured: n = 4096 exact 30 s and HiRef at 2^20
#: (2-D) 4 min on two CPU cores; dense Sinkhorn needs more iterations as n grows (MOSTA
#: stand-ins, 30-D: 59 s at n = 5913, 1201 s at 18408 alone and 1579 s beside other jobs),
#: so the n^2 unit is set by it (56 minutes asked at 18408).
RUNTIME_UNIT = {2: 2**25, 3: 2**39, 1: 2**27}
#: Pair-coordinates (n^2 (d + rank)) of the exact scoring of a low-rank plan that add one
#: base runtime. Measured: FRLC's rank-500 plan at MERFISH's n = 84172 (3.6e12) was rounded,
#: scored and mapped in about 290 s on two CPU cores (docs/frlc.md): 3.4 x head-room at the
#: default base of 5 minutes.
SCORING_UNIT = 2**40


def solver_mem_mb(method: str, n: int, d: int, attempt: int, base_mb: int,
                  params: dict | None = None) -> int:
    """Memory (MiB) of a solver job: ``attempt * (base_mb + arrays)``; the arrays of a method
    whose memory grows as n^2 with ``params`` (:meth:`MethodSpec.growth_at`) are dense n x n
    (``dense_entry_bytes`` per entry), the others O(n d)."""
    spec = METHODS[method]
    if spec.growth_at(params, n)[0] == 2:
        arrays = spec.dense_entry_bytes * n * n
    else:
        arrays = LINEAR_BYTES * n * (d + LINEAR_OVERHEAD)
    return attempt * (base_mb + math.ceil(arrays / MIB))


def solver_runtime(method: str, n: int, d: int, attempt: int, base_minutes: int,
                   params: dict | None = None) -> int:
    """Wall time (minutes) of a solver job: ``attempt * base * (1 + work / unit + scoring /
    SCORING_UNIT)``, the work n^2 or n^3 as the method's work grows with ``params``
    (:meth:`MethodSpec.growth_at`), else n (d + overhead + the method's ``point_work``), times
    the value of its ``repeats`` setting (1 without one) and its ``work_weight``; ``scoring``
    n^2 (d + rank) for a method whose low-rank plan is scored over all pairs
    (``scored_rank``), else 0.
    Measured: the mini-batch plans of n = 84172 with batches of 2048 took 871 s under load
    (profiles/measured_jobs.tsv)."""
    spec = METHODS[method]
    power = spec.growth_at(params, n)[1]
    settings = {**spec.defaults, **(params or {})}
    extra = spec.point_work(settings, n) if spec.point_work else 0
    work = n**power if power > 1 else n * (d + LINEAR_OVERHEAD + extra)
    if spec.repeats:
        work *= settings[spec.repeats]
    work *= spec.work_weight
    scoring = n * n * (d + settings[spec.scored_rank]) if spec.scored_rank else 0
    return attempt * math.ceil(
        base_minutes * (1 + work / RUNTIME_UNIT[power] + scoring / SCORING_UNIT))
