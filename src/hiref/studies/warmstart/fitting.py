"""The training loop both warm-start networks share: Adam-type steps on random batches of
training pairs, the whole loop one jitted ``lax.scan``, so the same seed gives the same
weights."""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
import optax


def fit(loss: Callable[[dict, jax.Array], jax.Array], params: dict,
        optimizer: optax.GradientTransformation, key: jax.Array, steps: int,
        batch_pairs: int, pairs: int) -> tuple[dict, np.ndarray]:
    """Minimises ``loss(params, rows)`` over ``steps`` steps of ``optimizer``, each on
    ``batch_pairs`` rows (batch,) drawn uniformly, with replacement, from ``range(pairs)``
    by keys split from ``key``. Returns the weights and the loss of each step (steps,)."""

    def step(state, step_key):
        p, opt_state = state
        rows = jax.random.randint(step_key, (batch_pairs,), 0, pairs)
        value, grads = jax.value_and_grad(loss)(p, rows)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), value

    @jax.jit
    def run(p):
        (p, _), values = jax.lax.scan(step, (p, optimizer.init(p)), jax.random.split(key, steps))
        return p, values

    params, losses = run(params)
    return params, np.asarray(losses)
