"""A classification head on frozen features, trained with optax on (pseudo-)labels.

The head is the authors' cosine classifier: features and class prototypes are L2-normalised
and the logits are ``logit_scale`` times their cosine (optionally after one hidden ReLU
layer: ``kind="mlp"``). Training runs ``epochs`` passes of shuffled mini-batches with a
soft-label cross-entropy ``-sum_k t_ik log softmax(logits)_ik``; before every epoch a
``labeler`` turns the head's current log-probabilities on all samples into the targets
(pseudo-labels whose rows may sum to less than one: P²OT's partial mass weights the loss).
The whole run (every epoch, every labelling) is one jitted computation.

Model selection (``SELECTIONS``): ``loss`` keeps the weights after the epoch with the lowest
mean training loss divided by the transported mass rho (1 without one), the P²OT authors'
default (``--model_select loss``, their loss scaled by 1 / rho); ``last`` keeps the last
epoch's weights.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

HEAD_KINDS = ("linear", "mlp")
#: How the trained head is chosen among the epochs (module docstring).
SELECTIONS = ("loss", "last")


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """kind: ``linear`` (cosine classifier on the features) or ``mlp`` (one hidden ReLU layer
    of ``hidden`` units, then the cosine classifier); logit_scale: cosine-to-logit factor
    (the authors' 10)."""

    kind: str = "linear"
    hidden: int = 256
    logit_scale: float = 10.0

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head.kind must be one of {', '.join(HEAD_KINDS)}, got {self.kind!r}")
        if not (isinstance(self.hidden, int) and self.hidden >= 1):
            raise ValueError(f"head.hidden must be a positive integer, got {self.hidden!r}")
        if not (math.isfinite(self.logit_scale) and self.logit_scale > 0):
            raise ValueError(f"head.logit_scale must be a positive number, got "
                             f"{self.logit_scale!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """epochs: passes over the data (one labelling each); batch_size: samples per optimiser
    step (capped at N; the last incomplete batch of an epoch is dropped); learning_rate: peak
    of a cosine decay over all steps; weight_decay: AdamW decoupled decay (0: Adam)."""

    epochs: int = 50
    batch_size: int = 128
    learning_rate: float = 0.02
    weight_decay: float = 0.0

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"training.{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"training.learning_rate must be positive, got "
                             f"{self.learning_rate!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"training.weight_decay must be >= 0, got {self.weight_decay!r}")


def init_head(key: jax.Array, d: int, k: int, config: HeadConfig) -> dict:
    """Parameters of a head from ``d`` features to ``k`` classes (Glorot-normal weights)."""
    init = jax.nn.initializers.glorot_normal()
    key_hidden, key_out = jax.random.split(key)
    params = {}
    if config.kind == "mlp":
        params["hidden_w"] = init(key_hidden, (d, config.hidden))
        params["hidden_b"] = jnp.zeros(config.hidden)
        d = config.hidden
    params["prototypes"] = init(key_out, (d, k))
    return params


def _unit(v: jax.Array, axis: int) -> jax.Array:
    return v / jnp.maximum(jnp.linalg.norm(v, axis=axis, keepdims=True), 1e-12)


def apply_head(params: dict, x: jax.Array, config: HeadConfig) -> jax.Array:
    """Logits (N, K) of the head on features ``x`` (N, d)."""
    h = x
    if config.kind == "mlp":
        h = jax.nn.relu(h @ params["hidden_w"] + params["hidden_b"])
    return config.logit_scale * _unit(h, 1) @ _unit(params["prototypes"], 0)


#: labeler(log_p (N, K), progress in [0, 1]) -> (targets (N, K), diagnostics {name: scalar}).
Labeler = Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]]


def train_head(
    x: jax.Array, params: dict, labeler: Labeler, key: jax.Array, head: HeadConfig,
    train: TrainConfig, selection: str = "loss",
) -> tuple[dict, dict]:
    """Trains the head ``params`` (``init_head``) on features ``x`` (N, d); jit-compatible.
    ``key`` seeds the mini-batch order; ``selection`` picks the weights returned
    (``SELECTIONS``).

    Returns the parameters and per-epoch diagnostics (arrays of length ``epochs``): ``loss``
    (mean over the epoch's batches), ``selection_score`` (loss / rho), ``selected`` (true at
    the epoch whose weights are returned) and whatever the labeler reports.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"imbalanced_clustering.evaluation.model_selection must be one of "
                         f"{', '.join(SELECTIONS)}, got {selection!r}")
    n = x.shape[0]
    batch = min(train.batch_size, n)
    steps_per_epoch = n // batch
    schedule = optax.cosine_decay_schedule(train.learning_rate, train.epochs * steps_per_epoch)
    optimizer = optax.adamw(schedule, weight_decay=train.weight_decay)

    def loss_fn(p, xb, tb):
        log_p = jax.nn.log_softmax(apply_head(p, xb, head))
        return -jnp.mean(jnp.sum(tb * log_p, axis=1))

    def epoch(carry, inputs):
        params, opt_state, best, best_score = carry
        epoch_key, progress = inputs
        log_p = jax.lax.stop_gradient(jax.nn.log_softmax(apply_head(params, x, head)))
        targets, diagnostics = labeler(log_p, progress)

        def optimiser_step(state, rows):
            p, opt_state = state
            loss, grads = jax.value_and_grad(loss_fn)(p, x[rows], targets[rows])
            updates, opt_state = optimizer.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state), loss

        order = jax.random.permutation(epoch_key, n)[: steps_per_epoch * batch]
        (params, opt_state), losses = jax.lax.scan(
            optimiser_step, (params, opt_state), order.reshape(steps_per_epoch, batch)
        )
        loss = losses.mean()
        score = loss / diagnostics.get("rho", 1.0)
        # The authors replace the kept model only on a strictly lower score.
        better = score < best_score if selection == "loss" else jnp.asarray(True)
        best = jax.tree_util.tree_map(lambda new, old: jnp.where(better, new, old), params, best)
        best_score = jnp.where(better, score, best_score)
        return (params, opt_state, best, best_score), {
            "loss": loss, "selection_score": score, "improved": better, **diagnostics
        }

    # Progress through training at each epoch's labelling: 0 at the first, 1 at the last.
    progress = jnp.linspace(0.0, 1.0, train.epochs) if train.epochs > 1 else jnp.ones(1)
    epoch_keys = jax.random.split(key, train.epochs)
    start = (params, optimizer.init(params), params, jnp.asarray(jnp.inf, x.dtype))
    (_, _, best, _), history = jax.lax.scan(epoch, start, (epoch_keys, progress))
    # The returned weights are those of the last epoch that improved the score.
    improved = history.pop("improved")
    epochs = jnp.arange(train.epochs)
    selected_epoch = jnp.max(jnp.where(improved, epochs, -1))
    history["selected"] = epochs == selected_epoch
    return best, history
