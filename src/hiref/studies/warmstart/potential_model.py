"""Our learned Sinkhorn initializer (``learned_potentials``): a permutation-invariant network
that predicts the dual potentials of the entropic OT problem between two colour palettes.

Palette A = {(x_i, a_i)}, palette B = {(y_j, b_j)}, cost C_ij = |x_i - y_j| in CIELAB.
Every colour and its mass become a feature vector h = phi([colour / scale, log(k m)]) (one
encoder for both palettes). For each colour y_j of B, a soft nearest-neighbour attention
over A (weights proportional to a_i exp(-C_ij / tau), tau learned) summarises the part of
A near y_j; with the mass-weighted means of both palettes, a head rho predicts the
potential u_j on B. The potential on A is u's entropic c-transform

    f_i = -eps log sum_j b_j exp((u_j - C_ij) / eps),

and the network is trained (optax Adam) to maximise the semi-dual objective
J(u) = <f, a> + <u, b> on training pairs, no Sinkhorn solve needed (the amortised
objective of Amos et al., Meta Optimal Transport, ICML 2023). J is the entropic OT dual
with the other potential at its optimum, so its maximum is the entropic OT cost; at
initialisation the head outputs u = 0 and f is one Sinkhorn half-step from a cold start.

Potentials here follow the convention P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps);
ott-jax's potentials absorb the masses (P_ij = exp((f_i + g_j - C_ij) / eps)), so
:func:`ott_potential` adds eps log a before Sinkhorn starts from it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hiref.studies.warmstart import fitting
from hiref.studies.warmstart.sinkhorn import euclidean_cost

#: Colours enter the network divided by it and potentials leave multiplied by it
#: (CIELAB lightness spans 0 to 100), so weights work on numbers of order one.
SCALE = 100.0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Size of the network.

    Attributes:
      hidden: width of the encoder phi and of the head rho (each one hidden layer).
      temperature: initial temperature tau of the attention over A, in CIELAB units
        (learned during training).
    """

    hidden: int = 32
    temperature: float = 10.0

    def __post_init__(self):
        if self.hidden < 1:
            raise ValueError(
                f"warmstart.potential_model.hidden must be positive, got {self.hidden}"
            )
        if self.temperature <= 0:
            raise ValueError(
                f"warmstart.potential_model.temperature must be positive, got {self.temperature}"
            )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training with optax Adam on minibatches of training pairs.

    Attributes:
      learning_rate: Adam step size.
      steps: optimisation steps.
      batch_pairs: pairs per step (drawn with replacement, seeded).
      seed: seed of the initial weights and of the minibatches.
    """

    learning_rate: float = 3e-3
    steps: int = 300
    batch_pairs: int = 32
    seed: int = 0

    def __post_init__(self):
        if self.learning_rate <= 0 or self.steps < 1 or self.batch_pairs < 1:
            raise ValueError(
                "warmstart.potential_model: learning_rate must be positive, steps and "
                "batch_pairs >= 1"
            )


def _dense(key, n_in: int, n_out: int, zero: bool = False):
    if zero:
        return {"w": jnp.zeros((n_in, n_out)), "b": jnp.zeros(n_out)}
    w = jax.random.normal(key, (n_in, n_out)) * jnp.sqrt(2.0 / n_in)
    return {"w": w, "b": jnp.zeros(n_out)}


def init_params(config: ModelConfig, key: jax.Array) -> dict:
    """Initial weights: He-normal layers; the head's last layer is zero, so u = 0."""
    h = config.hidden
    keys = jax.random.split(key, 3)
    return {
        "encoder": [_dense(keys[0], 4, h), _dense(keys[1], h, h)],
        "head": [_dense(keys[2], 4 * h + 1, h), _dense(None, h, 1, zero=True)],
        "log_temperature": jnp.log(jnp.asarray(config.temperature, dtype=jnp.float32)),
    }


def _mlp(layers, z):
    for layer in layers[:-1]:
        z = jax.nn.gelu(z @ layer["w"] + layer["b"])
    return z @ layers[-1]["w"] + layers[-1]["b"]


def c_transform(u: jnp.ndarray, weights: jnp.ndarray, cost: jnp.ndarray, epsilon: float):
    """f_i = -eps log sum_j w_j exp((u_j - C_ij) / eps): (m,), (m,), (n, m) -> (n,)."""
    return -epsilon * jax.scipy.special.logsumexp((u[None, :] - cost) / epsilon, b=weights, axis=1)


def semi_dual(f, a, b, cost, epsilon):
    """J(f) = <f, a> + <f^c, b>, f^c the c-transform of f on B: (n,), (n,), (m,), (n, m)."""
    return f @ a + c_transform(f, a, cost.T, epsilon) @ b


def predict_u(params: dict, config: ModelConfig, x, a, y, b) -> jnp.ndarray:
    """The network's potential on palette B: (n, 3), (n,), (m, 3), (m,) -> (m,)."""
    cost = euclidean_cost(x, y)

    def encode(colors, masses):
        feats = jnp.concatenate([colors / SCALE, jnp.log(len(masses) * masses)[:, None]], 1)
        return _mlp(params["encoder"], feats)

    hx, hy = encode(x, a), encode(y, b)
    temperature = jnp.exp(params["log_temperature"])
    attention = jax.nn.softmax(jnp.log(a)[:, None] - cost / temperature, axis=0)  # (n, m)
    context = attention.T @ hx
    nearest = jnp.sum(attention * cost, 0)[:, None] / SCALE
    pooled = jnp.broadcast_to(jnp.concatenate([a @ hx, b @ hy]), (len(b), 2 * config.hidden))
    return SCALE * _mlp(params["head"], jnp.concatenate([hy, context, pooled, nearest], 1))[:, 0]


def predict_f(params: dict, config: ModelConfig, x, a, y, b, epsilon: float) -> jnp.ndarray:
    """Predicted potential on palette A (mass-weighted convention), (n,)."""
    u = predict_u(params, config, x, a, y, b)
    return c_transform(u, b, euclidean_cost(x, y), epsilon)


def ott_potential(f: jnp.ndarray, a: jnp.ndarray, epsilon: float) -> jnp.ndarray:
    """Mass-weighted potential -> ott-jax's convention (which absorbs eps log a)."""
    return f + epsilon * jnp.log(a)


def pair_objective(params, config, x, a, y, b, epsilon):
    """J(u) = <u^c, a> + <u, b> of the network's u on one pair (CIELAB units)."""
    u = predict_u(params, config, x, a, y, b)
    return c_transform(u, b, euclidean_cost(x, y), epsilon) @ a + u @ b


_batch_objective = jax.jit(
    jax.vmap(pair_objective, (None, None, 0, 0, 0, 0, None)), static_argnums=(1, 6)
)


def pair_objectives(params, config, colors, masses, pairs, epsilon) -> np.ndarray:
    """:func:`pair_objective` of every pair ((p, 2) indices into (N, k, 3) ``colors`` and
    (N, k) ``masses``): (p,)."""
    i, j = np.asarray(pairs)[:, 0], np.asarray(pairs)[:, 1]
    colors, masses = np.asarray(colors), np.asarray(masses)
    return np.asarray(
        _batch_objective(params, config, colors[i], masses[i], colors[j], masses[j], epsilon)
    )


def mean_objective(params, config, colors, masses, pairs, epsilon) -> float:
    """Mean of :func:`pair_objective` over ``pairs``."""
    return float(pair_objectives(params, config, colors, masses, pairs, epsilon).mean())


def initial_params(model: ModelConfig, training: TrainConfig) -> dict:
    """The weights :func:`train` starts from (seeded by ``training.seed``)."""
    return init_params(model, jax.random.split(jax.random.key(training.seed))[0])


def train(
    colors: np.ndarray,
    masses: np.ndarray,
    pairs: np.ndarray,
    model: ModelConfig,
    training: TrainConfig,
    epsilon: float,
) -> tuple[dict, np.ndarray]:
    """Fits the network on training ``pairs`` ((p, 2) indices into (N, k, 3) ``colors`` and
    (N, k) ``masses``); returns the weights and the loss (-J / scale, batch mean) per step.

    The whole loop is one jitted ``lax.scan``: the same seed gives the same weights.
    """
    colors, masses, pairs = jnp.asarray(colors), jnp.asarray(masses), jnp.asarray(pairs)
    params = initial_params(model, training)
    batch_key = jax.random.split(jax.random.key(training.seed))[1]
    optimizer = optax.adam(training.learning_rate)
    objective = jax.vmap(pair_objective, (None, None, 0, 0, 0, 0, None))

    def loss(p, rows):
        i, j = pairs[rows, 0], pairs[rows, 1]
        values = objective(p, model, colors[i], masses[i], colors[j], masses[j], epsilon)
        return -jnp.mean(values) / SCALE

    return fitting.fit(loss, params, optimizer, batch_key, training.steps,
                       training.batch_pairs, len(pairs))
