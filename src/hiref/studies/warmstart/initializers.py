"""Sinkhorn initializers compared on the palette pairs, all as ott-jax initializers.

- ``cold``: ott's ``DefaultInitializer`` (zero potentials).
- ``gaussian``: ott's ``GaussianInitializer``: the Brenier potential between Gaussian fits
  of the two palettes. It is exact for the squared Euclidean cost; our cost is the
  Euclidean distance, so it is a heuristic here (reported as such).
- ``subsample``: ott's ``SubsampleInitializer``: Sinkhorn on ``subsample_points`` colours
  drawn from each palette by mass (seeded), its potential extended to every colour.
- ``learned``: :class:`LearnedInitializer`, the network of :mod:`hiref.studies.warmstart.model`.

Not applicable, hence not offered: ott's ``SortingInitializer`` (1-D sorted supports with
uniform masses) and ``MetaInitializer`` (one fixed geometry: palettes change supports).
"""

from __future__ import annotations

import dataclasses

import jax
from ott.geometry import pointcloud
from ott.initializers.linear import initializers as ott_init

from hiref.studies.warmstart import model as model_lib

INITIALIZERS = ("cold", "gaussian", "subsample", "learned")
NOT_APPLICABLE = {
    "sorting": "ott's SortingInitializer needs sorted 1-D supports with uniform masses",
    "meta": "ott's MetaInitializer learns potentials for one fixed geometry; palettes differ",
}


@jax.tree_util.register_pytree_node_class
class LearnedInitializer(ott_init.DefaultInitializer):
    """Potential f on the first palette predicted by the trained network (ott convention).

    Needs a ``PointCloud`` geometry of the two palettes with the Euclidean cost, as built
    by :func:`hiref.studies.warmstart.experiment.palette_problem`.
    """

    def __init__(self, params: dict, config: model_lib.ModelConfig):
        super().__init__()
        self.params = params
        self.config = config

    def init_fu(self, ot_prob, lse_mode: bool, rng=None):
        del rng
        geom = ot_prob.geom
        if not isinstance(geom, pointcloud.PointCloud):
            raise TypeError("the learned initializer needs a PointCloud geometry of palettes")
        f = model_lib.predict_f(
            self.params, self.config, geom.x, ot_prob.a, geom.y, ot_prob.b, geom.epsilon
        )
        f = model_lib.ott_potential(f, ot_prob.a, geom.epsilon)
        return f if lse_mode else geom.scaling_from_potential(f)

    def tree_flatten(self):
        return [self.params], {"config": self.config}

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        return cls(*children, **aux_data)


@dataclasses.dataclass(frozen=True)
class InitializerSettings:
    """Settings of the built-in initializers.

    Attributes:
      subsample_points: colours drawn from each palette by ``subsample``.
    """

    subsample_points: int = 32


def make_initializer(
    name: str,
    settings: InitializerSettings,
    sinkhorn_kwargs: dict,
    learned: tuple[dict, model_lib.ModelConfig] | None = None,
) -> ott_init.SinkhornInitializer:
    """The ott-jax initializer called ``name``; ``sinkhorn_kwargs`` configure the inner solve
    of ``subsample``; ``learned`` = (weights, network size) of the trained model."""
    if name == "cold":
        return ott_init.DefaultInitializer()
    if name == "gaussian":
        return ott_init.GaussianInitializer()
    if name == "subsample":
        return ott_init.SubsampleInitializer(settings.subsample_points, **sinkhorn_kwargs)
    if name == "learned":
        if learned is None:
            raise ValueError("the learned initializer needs a trained model (train_warmstart)")
        return LearnedInitializer(*learned)
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
