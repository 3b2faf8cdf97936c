"""Seeds: every public solver and method takes an integer seed in ``[0, 2**64)``, checked by
:func:`check_seed`, and turns it deterministically into what its library draws from.

- JAX: :func:`jax_key`, the threefry key of the seed's two 32-bit halves;
- NumPy: ``np.random.default_rng(seed)`` takes every such seed as it is;
- libraries with narrower seeds (BSP-OT, 31 bits): :func:`narrow_seed`.

Each keeps every seed below ``2**32`` (below the library's limit for :func:`narrow_seed`)
drawing what it drew before the range was widened. NumPy only at import: the method registry,
which Snakemake parses, uses it.
"""

from __future__ import annotations

import numpy as np

#: Seeds are integers in ``[0, SEED_LIMIT)``.
SEED_LIMIT = 2**64


def check_seed(seed) -> int:
    """Returns ``seed`` as a Python int in ``[0, 2**64)``, or raises ``ValueError``."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(  # noqa: TRY004
            f"seed must be an integer in [0, 2**64), got {seed!r} ({type(seed).__name__}); "
            "pass e.g. seed=0."
        )
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}.")
    return int(seed)


def jax_key(seed):
    """The JAX random key of ``seed`` (checked by :func:`check_seed`): the threefry key whose
    two 32-bit words are the seed's high and low halves.

    For every seed below ``2**32`` this is ``jax.random.key(seed)``; above, it is what
    ``jax.random.key`` gives in JAX's 64-bit mode. Outside that mode ``jax.random.key`` keeps
    only the low 32 bits (seeds differing above bit 32 would draw alike), hence this function
    for every key made from a user's seed.
    """
    import jax

    seed = check_seed(seed)
    words = np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32)
    return jax.random.wrap_key_data(words, impl="threefry2x32")


def narrow_seed(seed, bits: int) -> int:
    """``seed`` (checked by :func:`check_seed`) as the seed of a library that takes seeds
    below ``2**bits``: the seed itself when it fits, else the first 32-bit word of NumPy's
    ``SeedSequence(seed)`` (a hash of all 64 bits) reduced modulo ``2**bits``, so that seeds
    differing only above ``bits`` still draw differently (up to a collision of chance
    ``2**-bits``)."""
    seed = check_seed(seed)
    if seed < 2**bits:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint32)[0]) % 2**bits
