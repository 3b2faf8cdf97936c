"""What a run leaves beside its record, by the kind of result its method returns, and how
gene transfer reads it back as a :class:`Transport`.

Each method's specification names one :class:`OutputForm`: its ``.npz`` keys and their
dtypes (a run of that form fills exactly these) and how gene transfer decodes them. A run's
``.npz`` holds the keys of every registered form (empty arrays where they do not apply, see
:data:`hiref.records.NPZ_KEYS`) and ``cost``, the cost name. Pure NumPy: the workflow lists the keys while it parses its rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: Why a transport of another size cannot be used.
_SIZE_HINT = "gene transfer needs the run at the full size (n = prepared size)"


@dataclass(frozen=True)
class Transport:
    """A run's transport from source cells (rows of ``x``) to target cells (rows of ``y``).

    Attributes:
      kind: ``"bijection"`` (``targets`` a permutation), ``"map"`` (``targets`` any map) or
        ``"minibatch"`` (the entropic mini-batch plan).
      targets: (n,) int64 target of each source cell, for bijections and maps.
      batch_perm: (n,) int64 shared permutation of the mini-batches; ``batch_size`` B.
      f, g: (n,) potentials in batch order; ``epsilon``: (n_batches,) each batch's epsilon.
      cost: ``"euclidean"`` or ``"sqeuclidean"``, the batches' cost.
    """

    kind: str
    targets: np.ndarray | None = None
    batch_perm: np.ndarray | None = None
    batch_size: int = 0
    f: np.ndarray | None = None
    g: np.ndarray | None = None
    epsilon: np.ndarray | None = None
    cost: str = ""

    def batches(self):
        """``(rows, start)`` of each mini-batch: its source/target row indices and the
        position of its potentials in ``f`` and ``g``."""
        for start in range(0, len(self.batch_perm), self.batch_size):
            yield self.batch_perm[start:start + self.batch_size], start

    def plan(self, k: int, rows: np.ndarray, start: int, x: np.ndarray,
             y: np.ndarray) -> np.ndarray:
        """(b, b) entropic plan of batch ``k`` between ``x[rows]`` and ``y[rows]``."""
        diff = x[rows][:, None, :].astype(np.float64) - y[rows][None, :, :].astype(np.float64)
        cost = np.sum(diff**2, axis=-1)
        if self.cost == "euclidean":
            cost = np.sqrt(cost)
        stop = start + len(rows)
        f = self.f[start:stop].astype(np.float64)
        g = self.g[start:stop].astype(np.float64)
        return np.exp((f[:, None] + g[None, :] - cost) / self.epsilon[k])


#: ``decode(arrays, n_source, n_target, path)``: the transport of a run's arrays (every key
#: of its ``.npz``), or ``ValueError`` naming ``path`` when it does not fit the cells.
Decoder = Callable[..., Transport]


@dataclass(frozen=True, eq=False)
class OutputForm:
    """The file form of one kind of result.

    Attributes:
      kind: what the method returns, e.g. ``"bijection"``.
      keys: its ``.npz`` keys -> dtype; a run of this form that is ``ok`` fills exactly
        these (empty when nothing is written).
      description: what the arrays hold.
      decode: how gene transfer reads the arrays as a transport (called when the form's
        first key holds data); None: nothing a transfer can use is written.
    """

    kind: str
    keys: Mapping[str, type]
    description: str
    decode: Decoder | None = None

    def arrays(self, perm: np.ndarray | None, arrays: Mapping[str, np.ndarray],
               status: str) -> dict[str, np.ndarray]:
        """The ``.npz`` arrays of a run's result (``perm`` its bijection, if any, and its
        further ``arrays``), cast to the form's dtypes; ``ValueError`` unless a run that is
        ``ok`` returns exactly the form's keys and a skipped run none."""
        given = {**arrays, **({"perm": perm} if perm is not None else {})}
        expected = set(self.keys) if status == "ok" else set()
        if set(given) != expected:
            raise ValueError(f"a {status!r} run of a method returning a {self.kind} gave arrays "
                             f"{sorted(given)}; its output form has {sorted(expected)}")
        return {key: np.asarray(value, self.keys[key]) for key, value in given.items()}

    def holds_data(self, arrays: Mapping[str, np.ndarray]) -> bool:
        first = next(iter(self.keys), None)
        return first is not None and arrays.get(first, np.zeros(0)).size > 0


def _decode_targets(kind: str, key: str) -> Decoder:
    """Decoder of a map ``x_i -> y[targets[i]]`` stored under ``key``; a bijection must be
    one."""

    def decode(arrays, n_source, n_target, path) -> Transport:
        targets = arrays[key].astype(np.int64)
        if len(targets) != n_source or targets.min() < 0 or targets.max() >= n_target:
            raise ValueError(
                f"{path}: {kind} of {len(targets)} points into [0, {int(targets.max()) + 1}) "
                f"does not fit the {n_source} x {n_target} prepared cells; {_SIZE_HINT}"
            )
        if kind == "bijection" and np.unique(targets).size != n_target:
            raise ValueError(f"{path}: {key!r} is not a bijection of the {n_target} target cells")
        return Transport(kind, targets=targets)

    return decode


def _decode_minibatch(arrays, n_source, n_target, path) -> Transport:
    batch_perm, batch_size = arrays["batch_perm"], int(arrays["batch_size"])
    n_batches = -(-len(batch_perm) // max(batch_size, 1))
    transport = Transport(
        "minibatch", batch_perm=batch_perm.astype(np.int64), batch_size=batch_size,
        f=arrays["f"], g=arrays["g"], epsilon=np.asarray(arrays["batch_epsilon"], float),
        cost=str(arrays["cost"]),
    )
    if not (len(batch_perm) == n_source == n_target
            and np.unique(batch_perm).size == n_source
            and len(transport.f) == len(transport.g) == n_source
            and len(transport.epsilon) == n_batches and (transport.epsilon > 0).all()
            and transport.cost in ("euclidean", "sqeuclidean")):
        raise ValueError(
            f"{path}: mini-batch plan (batch_perm, f, g of length {len(batch_perm)}, "
            f"{len(transport.epsilon)} epsilons for B = {batch_size}, cost "
            f"{transport.cost!r}) does not fit the {n_source} prepared cells; {_SIZE_HINT}"
        )
    return transport


BIJECTION = OutputForm(
    "bijection", {"perm": np.int64}, "`perm`: the bijection x_i -> y_perm[i]",
    _decode_targets("bijection", "perm"),
)
MAP = OutputForm(
    "map", {"map": np.int64},
    "`map`: the target of each x_i, e.g. the argmax of its row of a plan (not one-to-one)",
    _decode_targets("map", "map"),
)
LOW_RANK_PLAN = OutputForm(
    "low-rank plan", {}, "nothing: the factored plan is scored in the job and not written",
)
ENTROPIC_PLAN = OutputForm(
    "entropic plan", {}, "nothing: the dense plan is scored in the job and not written",
)
MINIBATCH_PLAN = OutputForm(
    "mini-batch plan",
    {"batch_perm": np.int64, "batch_size": np.int64, "f": np.float32, "g": np.float32,
     "batch_epsilon": np.float64},
    "the entropic mini-batch plan: `batch_perm` (the shared permutation), `batch_size`, `f`, "
    "`g` (each batch's potentials in batch order: position t belongs to x[batch_perm[t]] / "
    "y[batch_perm[t]]) and `batch_epsilon` (one per batch), so that batch k's plan is "
    "exp((f_i + g_j - C_ij) / batch_epsilon[k]) under the run's `cost`",
    _decode_minibatch,
)


def npz_keys(forms) -> tuple[str, ...]:
    """Every key of ``forms``, in order, then ``cost``."""
    return (*dict.fromkeys(key for form in forms for key in form.keys), "cost")


def empty_arrays(forms) -> dict[str, np.ndarray]:
    """An empty array of the right dtype for every key of ``forms``."""
    return {key: np.zeros(0, dtype) for form in forms for key, dtype in form.keys.items()}

