"""Sinkhorn initializers compared on the palette pairs, all as ott-jax initializers.

- ``cold``: ott's ``DefaultInitializer`` (zero potentials).
- ``gaussian``: ott's ``GaussianInitializer``: the Brenier potential between Gaussian fits
  of the two palettes. It is exact for the squared Euclidean cost; our cost is the
  Euclidean distance, so it is a heuristic here (reported as such).
- ``subsample``: ott's ``SubsampleInitializer``: Sinkhorn on ``subsample_points`` colours
  drawn from each palette by mass (seeded), its potential extended to every colour.
- ``learned_potentials``: :class:`LearnedPotentialsInitializer`, our network
  (:mod:`hiref.studies.warmstart.potential_model`) that predicts the dual potentials.
- ``learned_plan``: :class:`LearnedPlanInitializer`, the reference study's method
  (:mod:`hiref.studies.warmstart.plan_model`): a predicted initial plan P0 turned into a start.

Every start is centred by the solve (:func:`hiref.studies.warmstart.sinkhorn.centre`).

Not applicable, hence not offered: ott's ``SortingInitializer`` (1-D sorted supports with
uniform masses) and ``MetaInitializer`` (one fixed geometry: palettes change supports).
"""

from __future__ import annotations

import dataclasses

import jax
from ott.geometry import pointcloud
from ott.initializers.linear import initializers as ott_init

from hiref.studies.warmstart import plan_model, potential_model, sinkhorn

INITIALIZERS = ("cold", "gaussian", "subsample", "learned_potentials", "learned_plan")
#: Initializers that need a trained network -> the rule that trains it.
LEARNED = {"learned_potentials": "train_potential_model", "learned_plan": "train_plan_model"}
NOT_APPLICABLE = {
    "sorting": "ott's SortingInitializer needs sorted 1-D supports with uniform masses",
    "meta": "ott's MetaInitializer learns potentials for one fixed geometry; palettes differ",
}


def _palettes(ot_prob):
    geom = ot_prob.geom
    if not isinstance(geom, pointcloud.PointCloud):
        raise TypeError("a learned initializer needs a PointCloud geometry of two palettes")
    return geom.x, ot_prob.a, geom.y, ot_prob.b, geom.epsilon


@jax.tree_util.register_pytree_node_class
class LearnedPotentialsInitializer(ott_init.DefaultInitializer):
    """Potential f on the first palette predicted by our network, in ott's convention.

    Needs a ``PointCloud`` geometry of the two palettes with the Euclidean cost, as built
    by :func:`hiref.studies.warmstart.experiment.palette_problem`.
    """

    def __init__(self, params: dict, config: potential_model.ModelConfig):
        super().__init__()
        self.params = params
        self.config = config

    def init_fu(self, ot_prob, lse_mode: bool, rng=None):
        del rng
        x, a, y, b, eps = _palettes(ot_prob)
        f = potential_model.predict_f(self.params, self.config, x, a, y, b, eps)
        f = potential_model.ott_potential(f, a, eps)
        return f if lse_mode else ot_prob.geom.scaling_from_potential(f)

    def tree_flatten(self):
        return [self.params], {"config": self.config}

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        return cls(*children, **aux_data)


@jax.tree_util.register_pytree_node_class
class LearnedPlanInitializer(LearnedPotentialsInitializer):
    """The reference study's start: the network's predicted plan P0, fitted by
    log u + log v as the reference did (:func:`plan_model.plan_start`), in ott's convention."""

    def init_fu(self, ot_prob, lse_mode: bool, rng=None):
        del rng
        x, a, y, b, eps = _palettes(ot_prob)
        rows = plan_model.predict_rows(self.params, self.config, x, a, y, b)
        f = plan_model.plan_start(rows, a, sinkhorn.euclidean_cost(x, y), eps)
        return f if lse_mode else ot_prob.geom.scaling_from_potential(f)


@dataclasses.dataclass(frozen=True)
class InitializerSettings:
    """Settings of the built-in initializers.

    Attributes:
      subsample_points: colours drawn from each palette by ``subsample``.
    """

    subsample_points: int = 32


def make_initializer(
    name: str, settings: InitializerSettings, network: tuple | None = None
) -> ott_init.SinkhornInitializer:
    """The ott-jax initializer called ``name``; ``network`` = (weights, network size) of the
    trained model of a learned initializer (``LEARNED``). ``subsample``'s inner Sinkhorn
    runs with ott's defaults (threshold 1e-3) at the problem's epsilon."""
    if name == "cold":
        return ott_init.DefaultInitializer()
    if name == "gaussian":
        return ott_init.GaussianInitializer()
    if name == "subsample":
        return ott_init.SubsampleInitializer(settings.subsample_points)
    if name in LEARNED:
        if network is None:
            raise ValueError(f"the {name} initializer needs the model of {LEARNED[name]}")
        cls = LearnedPotentialsInitializer if name == "learned_potentials" else LearnedPlanInitializer
        return cls(*network)
    raise _unavailable(name)


def _unavailable(name: str) -> ValueError:
    reason = NOT_APPLICABLE.get(name, "unknown initializer")
    return ValueError(
        f"warmstart.initializers: {name!r} is not available ({reason}); allowed: "
        + ", ".join(INITIALIZERS)
    )


def check_names(names: list[str]) -> None:
    """Every name is an initializer offered here, and ``cold`` (the baseline) is among them."""
    for name in names:
        if name not in INITIALIZERS:
            raise _unavailable(name)
    if "cold" not in names:
        raise ValueError(
            "warmstart.initializers must include cold: every warm start is compared with it"
        )
