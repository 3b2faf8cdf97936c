"""Everything the workflow knows about one method, in one place: :class:`MethodSpec`.

The configuration schema's ``methods.<name>`` (descriptions, types, limits, defaults), the
cluster requests (:mod:`hiref.resources`), figure legends, the run's ``.npz`` keys and the
tests' list of methods are all read from the specifications in the registry
(:data:`hiref.methods.REGISTRY`).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hiref.config import COSTS
from hiref.methods.common import MethodResult
from hiref.methods.outputs import OutputForm
from hiref.settings import as_params, properties

#: A method's name: lower-case words joined by ``_`` (a label adds ``-<value>``).
NAME = re.compile(r"[a-z]+(?:_[a-z]+)*")
#: Powers of n that :mod:`hiref.resources` sizes: memory O(n d) or n^2; work about n d,
#: n^2 or n^3.
MEMORY_GROWTHS, WORK_GROWTHS = (1, 2), (1, 2, 3)
#: Weight of a batch in the work per point of a mini-batch method: every point meets its
#: batch at each of the batch's Sinkhorn iterations. Measured: n = 84172 (2-D) with batches
#: of 2048 took 871 s, 640500 in 2048-D with batches of 128 took 285 s, both about 2.5e5
#: point-batch entries a second; this weight gives them 2.2 and 13 x head-room.
BATCH_WEIGHT = 4


def batch_work(settings: dict, n: int) -> float:
    """The ``point_work`` of a mini-batch method: its batch, weighted by ``BATCH_WEIGHT``."""
    return BATCH_WEIGHT * settings["batch_size"]

#: ``methods.<name>.max_n`` of every method; its default is the specification's ``max_n``.
MAX_N_SCHEMA = {
    "description": "Largest n this method runs at; above it the run is recorded as `skipped` "
                   "with the reason (the paper's \"—\") instead of exhausting memory or time. "
                   "null: no limit.",
    "type": ["integer", "null"],
    "minimum": 1,
}
#: What the schema adds to the description of a sweep setting.
SWEEP_DOC = "One value, or a list of values to sweep (one method variant per value)."


@dataclass(frozen=True)
class NoSettings:
    """Settings of a method that has none besides ``max_n``."""


@dataclass(frozen=True)
class MethodSpec:
    """One workflow method.

    Attributes:
      name: its name in configurations, result paths and tables (:data:`NAME`).
      settings: its settings with their defaults: an instance of a frozen dataclass whose
        fields carry their documentation and limits (:func:`hiref.settings.setting`). Two
        methods may share one class with different defaults (``hiref``, ``hiref_refined``).
      run: ``run(x, y, params, seed) -> MethodResult``; ``params`` holds every field of
        ``settings``, ``max_n`` and ``cost``.
      output: the kind of result and its file form (:mod:`hiref.methods.outputs`).
      description: what the method is, for the configuration's documentation.
      estimator: one line recorded with every run: what is computed and how it is scored.
      legend: what figure legends call it.
      uses_jax: it runs on JAX's device (a GPU when the job holds one, with compilation
        recorded apart), else on the host CPU.
      memory_growth: power of n of the arrays it holds: 1 (O(n d)) or 2 (dense n x n).
      dense_entry_bytes: bytes it holds per entry of a dense n x n array at once (with
        ``memory_growth`` 2): a float64 cost, kernel and plan and a scoring pass are 24.
      work_growth: power of n of its work: 1 (about n d), 2 or 3.
      max_n: default of ``methods.<name>.max_n``, the largest n it runs at (None: no limit).
      limit: what grows too fast beyond ``max_n``, for the skip reason.
      sweep: an integer setting that the configuration may give as a list; each value becomes
        a variant labelled ``{name}-{value}`` (e.g. ``minibatch-128``).
      costs: the costs it can minimise; other costs give a ``skipped`` run.
      point_work: ``point_work(settings, n) -> float``: work per point beyond its ``d``
        coordinates, for a method of linear work (the job's work is then n (d + overhead +
        point_work)); None: none. Mini-batch OT: each point meets its batch at every
        iteration (:func:`batch_work`); the authors' HiRef: its share of a rank-Q FRLC on
        its Q-point block, about Q^2.
      repeats: an integer setting counting the full solves the method runs one after the
        other (ProgOT's ``num_steps``, each a Sinkhorn solve): its work is that many times
        the growth's.
      work_weight: its work per unit of growth (each repeat's) relative to the methods the
        runtime units were measured on (dense Sinkhorn for n^2): ProgOT's steps, at falling
        epsilon, each cost more than one dense Sinkhorn solve.
      scored_rank: the rank setting of a low-rank plan that is scored exactly, entry by
        entry over all n x n pairs (LOT, FRLC): the scoring adds n^2 (d + rank) to the
        job's work whatever the solve's own growth.
      growth: ``growth(params, n) -> (memory_growth, work_growth)`` where the two depend on
        the settings (FRLC: its cost form); None: the fields above hold for every run.
      size_check: ``size_check(params, n)`` raises ``ValueError`` saying what to change when
        ``params`` cannot solve ``n`` points (an infeasible schedule); the workflow calls it
        for every run when it is parsed, so no job fails for it. Pure Python, no JAX.
    """

    name: str
    settings: object
    run: Callable[[np.ndarray, np.ndarray, dict, int], MethodResult]
    output: OutputForm
    description: str
    estimator: str
    legend: str
    uses_jax: bool
    memory_growth: int = 1
    dense_entry_bytes: int = 24
    work_growth: int = 1
    max_n: int | None = None
    limit: str | None = None
    sweep: str | None = None
    costs: tuple[str, ...] = COSTS
    point_work: Callable[[dict, int], float] | None = None
    repeats: str | None = None
    work_weight: float = 1.0
    scored_rank: str | None = None
    size_check: Callable[[dict, int], None] | None = None
    growth: Callable[[dict, int], tuple[int, int]] | None = None

    def __post_init__(self):
        where = f"method {self.name!r}"
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(f"{where}: a name is lower-case words joined by '_'")
        if not dataclasses.is_dataclass(self.settings) or isinstance(self.settings, type):
            raise ValueError(f"{where}: settings must be a dataclass instance, e.g. "
                             "NoSettings()")
        fields = {f.name for f in dataclasses.fields(self.settings)}
        if fields & {"max_n", "cost"}:
            raise ValueError(f"{where}: max_n and cost are not settings of a method")
        for key, value in (("sweep", self.sweep), ("repeats", self.repeats),
                           ("scored_rank", self.scored_rank)):
            if value is not None and (
                    value not in fields
                    or typing.get_type_hints(type(self.settings))[value] is not int):
                raise ValueError(f"{where}: {key} {value!r} is not an int field of its "
                                 "settings")
        if self.memory_growth not in MEMORY_GROWTHS or self.work_growth not in WORK_GROWTHS:
            raise ValueError(f"{where}: memory_growth must be one of {MEMORY_GROWTHS}, "
                             f"work_growth one of {WORK_GROWTHS}")
        if not self.costs or set(self.costs) - set(COSTS):
            raise ValueError(f"{where}: costs must be some of {COSTS}")
        if "\n" in self.estimator or not self.estimator:
            raise ValueError(f"{where}: the estimator is one line")

    def growth_at(self, params: dict | None, n: int) -> tuple[int, int]:
        """``(memory_growth, work_growth)`` of a run of ``n`` points with ``params`` (where
        a setting is missing: its default, and the cost the first of :data:`COSTS`)."""
        if self.growth is None:
            return self.memory_growth, self.work_growth
        memory, work = self.growth({**self.defaults, "cost": COSTS[0], **(params or {})}, n)
        if memory not in MEMORY_GROWTHS or work not in WORK_GROWTHS:
            raise ValueError(f"method {self.name!r}: growth gave ({memory}, {work})")
        return memory, work

    @property
    def defaults(self) -> dict:
        """Every setting with its default, ``max_n`` included (JSON values)."""
        return {**as_params(self.settings), "max_n": self.max_n}

    def schema(self) -> dict:
        """JSON schema of ``methods.<name>``: each setting's description, type, limits and
        default; the sweep setting also accepts a list."""
        fields = properties(self.settings)
        if self.sweep is not None:
            field = fields[self.sweep]
            one = {k: v for k, v in field.items() if k not in ("description", "default")}
            fields[self.sweep] = {
                "description": f"{field['description']} {SWEEP_DOC}".strip(),
                "oneOf": [one, {"type": "array", "items": one, "minItems": 1,
                                "uniqueItems": True}],
                "default": field["default"],
            }
        return {
            "description": self.description, "type": "object", "additionalProperties": False,
            "default": {},
            "properties": {**fields, "max_n": {**MAX_N_SCHEMA, "default": self.max_n}},
        }
