"""The reference study's method: a network that predicts the initial plan P0 of a palette
pair, trained with a KL loss against converged Sinkhorn plans, and P0 turned into a start.

Reference: github.com/Rob10001/AmortizedOptimalTransport (notebooks 3 and 4), read for
facts; this is our JAX code.

- Network (``AmortizerNeuralNetwork`` there): each colour of A and of B enters as
  [L, a, b, mass] (raw CIELAB, raw mass, as in the reference); two encoders (one per
  palette, Linear-GELU-Linear-GELU-Linear of width ``hidden``) and a multi-head cross
  attention from A's colours (queries) to B's (keys). Its attention weights, averaged over
  the heads, are the prediction: a row-stochastic (n, m) matrix, row i a distribution over
  B's colours for colour i of A. Initial weights follow PyTorch's defaults
  (``nn.Linear``: uniform(+-1/sqrt(fan_in)); ``nn.MultiheadAttention``: Xavier-uniform
  projections, zero biases), so a run starts where the reference's did.
- Loss: ``KLDivLoss(reduction="batchmean")`` of log(P_pred + 1e-8) against the converged
  plan with rows normalised to one: sum_ij t_ij (log t_ij - log(p_ij + 1e-8)) per pair,
  averaged over the pairs of a batch. Optimiser: AdamW (the reference's lr 1e-3, PyTorch's
  weight decay 0.01).
- Start: P0 = a_i P_pred_ij (rows sum to a). log R = log max(P0, 1e-12) + C / eps should be
  log u_i + log v_j; ten rounds of alternating least squares (log u = row means of
  log R - log v, log v = column means of log R - log u) fit them, and Sinkhorn starts from
  them. The reference keeps log v and updates u first; our Sinkhorn updates g first, so it
  keeps the other half: f0 = eps log u (:func:`plan_start`). Both recompute the discarded
  half in their first update.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hiref.studies.warmstart import fitting, sinkhorn

#: Floor of P0 before its logarithm (the reference's ``clamp_min(1e-12)``).
PLAN_FLOOR = 1e-12
#: Added to the predicted plan inside the loss's logarithm (the reference's 1e-8).
LOSS_FLOOR = 1e-8
#: Rounds of alternating least squares fitting log u + log v to log R (the reference's 10).
FIT_ROUNDS = 10
#: Features of a colour: L, a, b, mass.
FEATURES = 4


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Size of the P0 network.

    Attributes:
      hidden: width of both encoders and of the attention (the reference's 256).
      heads: attention heads (the reference's 4); must divide ``hidden``.
    """

    hidden: int = 64
    heads: int = 4

    def __post_init__(self):
        if self.hidden < 1 or self.heads < 1 or self.hidden % self.heads:
            raise ValueError(
                "warmstart.plan_model: hidden and heads must be positive and heads must "
                f"divide hidden, got {self.hidden} and {self.heads}"
            )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training with optax AdamW on minibatches of training pairs and their converged plans.

    Attributes:
      learning_rate: AdamW step size (the reference's 1e-3).
      weight_decay: AdamW decoupled weight decay (PyTorch's default 0.01).
      steps: optimisation steps.
      batch_pairs: pairs per step (drawn with replacement, seeded).
      seed: seed of the initial weights and of the minibatches.
    """

    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    steps: int = 200
    batch_pairs: int = 32
    seed: int = 0

    def __post_init__(self):
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError("warmstart.plan_model: learning_rate > 0 and weight_decay >= 0")
        if self.steps < 1 or self.batch_pairs < 1:
            raise ValueError("warmstart.plan_model: steps and batch_pairs must be >= 1")


def _linear(key, n_in: int, n_out: int) -> dict:
    """PyTorch's nn.Linear initialisation: weights and biases uniform(+-1/sqrt(n_in))."""
    bound = 1.0 / np.sqrt(n_in)
    kw, kb = jax.random.split(key)
    return {"w": jax.random.uniform(kw, (n_in, n_out), minval=-bound, maxval=bound),
            "b": jax.random.uniform(kb, (n_out,), minval=-bound, maxval=bound)}


def _xavier(key, n_in: int, n_out: int) -> jax.Array:
    bound = np.sqrt(6.0 / (n_in + n_out))
    return jax.random.uniform(key, (n_in, n_out), minval=-bound, maxval=bound)


def init_params(config: ModelConfig, key: jax.Array) -> dict:
    """Initial weights (PyTorch's defaults for the reference's layers)."""
    h = config.hidden
    keys = jax.random.split(key, 8)

    def encoder(k0, k1, k2):
        return [_linear(k0, FEATURES, h), _linear(k1, h, h), _linear(k2, h, h)]

    return {
        "source": encoder(*keys[:3]),
        "target": encoder(*keys[3:6]),
        # nn.MultiheadAttention's query and key projections (its value and output
        # projections do not reach the attention weights).
        "query": {"w": _xavier(keys[6], h, h), "b": jnp.zeros(h)},
        "key": {"w": _xavier(keys[7], h, h), "b": jnp.zeros(h)},
    }


def _encode(layers, z):
    for layer in layers[:-1]:
        z = jax.nn.gelu(z @ layer["w"] + layer["b"], approximate=False)
    return z @ layers[-1]["w"] + layers[-1]["b"]


def predict_rows(params: dict, config: ModelConfig, x, a, y, b) -> jax.Array:
    """The network's row-stochastic prediction (n, m) for palettes (n, 3), (n,), (m, 3), (m,)."""
    source = _encode(params["source"], jnp.concatenate([x, a[:, None]], 1))
    target = _encode(params["target"], jnp.concatenate([y, b[:, None]], 1))
    head_width = config.hidden // config.heads
    q = (source @ params["query"]["w"] + params["query"]["b"]).reshape(-1, config.heads, head_width)
    k = (target @ params["key"]["w"] + params["key"]["b"]).reshape(-1, config.heads, head_width)
    scores = jnp.einsum("nhd,mhd->hnm", q, k) / jnp.sqrt(head_width)
    return jax.nn.softmax(scores, axis=-1).mean(0)


def pair_loss(params, config, x, a, y, b, target_plan) -> jax.Array:
    """The reference's KL loss of one pair: target rows normalised to one, (n, m) plan."""
    rows = target_plan / (target_plan.sum(1, keepdims=True) + LOSS_FLOOR)
    predicted = predict_rows(params, config, x, a, y, b)
    kl = jax.scipy.special.xlogy(rows, rows) - rows * jnp.log(predicted + LOSS_FLOOR)
    return kl.sum()


def plan_start(rows: jax.Array, a, cost, epsilon: float) -> jax.Array:
    """The start f0 (n,) of a predicted row-stochastic (n, m) plan, as the reference turned
    P0 into a start (module docstring)."""
    log_r = jnp.log(jnp.maximum(a[:, None] * rows, PLAN_FLOOR)) + cost / epsilon

    def fit(_, log_v):
        log_u = (log_r - log_v[None, :]).mean(1)
        return (log_r - log_u[:, None]).mean(0)

    log_v = jax.lax.fori_loop(0, FIT_ROUNDS - 1, fit, jnp.zeros(cost.shape[1], cost.dtype))
    return epsilon * (log_r - log_v[None, :]).mean(1)


def initial_params(model: ModelConfig, training: TrainConfig) -> dict:
    """The weights :func:`train` starts from (seeded by ``training.seed``)."""
    return init_params(model, jax.random.split(jax.random.key(training.seed))[0])


def converged_plans(colors, masses, pairs, settings: sinkhorn.SinkhornSettings):
    """The training targets: Sinkhorn plans (p, k, k) of ``pairs`` from a cold start, their
    iteration counts and converged flags (a capped solve's plan is kept, as the
    reference kept its capped label solves)."""
    colors, masses = jnp.asarray(colors), jnp.asarray(masses)

    def one(pair):
        x, a, y, b = colors[pair[0]], masses[pair[0]], colors[pair[1]], masses[pair[1]]
        cost = sinkhorn.euclidean_cost(x, y)
        out = sinkhorn.solve(cost, a, b, jnp.zeros_like(a), settings)
        return sinkhorn.plan(out.f, out.g, cost, settings.epsilon), out.iterations, out.converged

    solve_one = jax.jit(one)
    plans, iterations, converged = zip(*(solve_one(jnp.asarray(p)) for p in np.asarray(pairs)))
    return np.stack(plans), np.asarray(iterations), np.asarray(converged)


def train(colors, masses, pairs, plans, model: ModelConfig, training: TrainConfig):
    """Fits the network on training ``pairs`` ((p, 2) indices into (N, k, 3) ``colors`` and
    (N, k) ``masses``) and their converged ``plans`` (p, k, k); returns the weights and the
    loss (batch mean) per step. One jitted ``lax.scan``: the same seed gives the same weights.
    """
    colors, masses = jnp.asarray(colors), jnp.asarray(masses)
    pairs, plans = jnp.asarray(pairs), jnp.asarray(plans)
    params = initial_params(model, training)
    batch_key = jax.random.split(jax.random.key(training.seed))[1]
    optimizer = optax.adamw(training.learning_rate, weight_decay=training.weight_decay)
    losses_of = jax.vmap(pair_loss, (None, None, 0, 0, 0, 0, 0))

    def loss(p, rows):
        i, j = pairs[rows, 0], pairs[rows, 1]
        return losses_of(p, model, colors[i], masses[i], colors[j], masses[j], plans[rows]).mean()

    return fitting.fit(loss, params, optimizer, batch_key, training.steps,
                       training.batch_pairs, len(pairs))


def mean_loss(params, config, colors, masses, pairs, plans) -> float:
    """The loss averaged over ``pairs`` and their ``plans``."""
    colors, masses, pairs = jnp.asarray(colors), jnp.asarray(masses), np.asarray(pairs)
    i, j = pairs[:, 0], pairs[:, 1]
    values = jax.jit(jax.vmap(pair_loss, (None, None, 0, 0, 0, 0, 0)), static_argnums=1)(
        params, config, colors[i], masses[i], colors[j], masses[j], jnp.asarray(plans))
    return float(values.mean())

