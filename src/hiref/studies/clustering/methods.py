"""The study's methods on one prepared dataset, and the record of each run.

- ``kmeans``: scikit-learn k-means (k = number of classes) on the prepared features.
- ``sela``: a head trained on balanced-OT pseudo-labels (``pseudolabels.solve_sela``).
- ``p2ot``: a head trained on P²OT pseudo-labels with growing mass rho (``p2ot.solve_p2ot``).
- ``supervised``: the same head trained on the true labels: the ceiling of the features.

The three heads share the head, the optimiser, the epochs and, per seed, the initial head
and the mini-batch order; only the targets differ. A head method is compiled once per job
and then run for every seed (``seconds`` excludes compilation, kept as ``compile_seconds``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hiref.studies.clustering.heads import HeadConfig, TrainConfig
    from hiref.studies.clustering.p2ot import P2OTConfig
    from hiref.studies.clustering.pseudolabels import SelaConfig

#: Method names, in table order.
METHODS = ("kmeans", "sela", "p2ot", "supervised")
#: Methods that train a head with JAX (they hold a GPU slot in the workflow).
HEAD_METHODS = ("sela", "p2ot", "supervised")
#: How a head starts: Glorot-random (the authors') or at the k-means centroids of its seed.
HEAD_INITS = ("random", "kmeans")
#: Packages whose versions every record carries, beside hiref.provenance.PACKAGES.
EXTRA_PACKAGES = ("optax", "scikit-learn", "scanpy")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the study's methods (``from_config`` reads the config section)."""

    head: HeadConfig
    training: TrainConfig
    sela: SelaConfig
    p2ot: P2OTConfig
    init: str = "random"
    kmeans_n_init: int = 10

    @classmethod
    def from_config(cls, section: dict) -> Settings:
        from hiref.studies.clustering.heads import HeadConfig, TrainConfig
        from hiref.studies.clustering.p2ot import P2OTConfig
        from hiref.studies.clustering.pseudolabels import SelaConfig

        head = dict(section.get("head", {}))
        init = head.pop("init", "random")
        if init not in HEAD_INITS:
            raise ValueError(f"imbalanced_clustering.head.init must be one of "
                             f"{', '.join(HEAD_INITS)}, got {init!r}")
        settings = cls(
            head=HeadConfig(**head), training=TrainConfig(**section.get("training", {})),
            init=init, sela=SelaConfig(**section.get("sela", {})),
            p2ot=P2OTConfig(**section.get("p2ot", {})),
            kmeans_n_init=section.get("kmeans", {}).get("n_init", 10),
        )
        if init == "kmeans" and settings.head.kind != "linear":
            raise ValueError("imbalanced_clustering.head.init: kmeans starts the prototypes at "
                             "the k-means centroids, which needs head.kind linear")
        return settings

    def params(self, method: str) -> dict:
        """The settings a method used, for its record."""
        if method == "kmeans":
            return {"n_init": self.kmeans_n_init}
        out = {"head": dataclasses.asdict(self.head), "init": self.init,
               "training": dataclasses.asdict(self.training)}
        if method in ("sela", "p2ot"):
            out[method] = dataclasses.asdict(getattr(self, method))
        return out


def kmeans_labels(x: np.ndarray, k: int, seed: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means cluster of every row and the (k, d) centroids."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32)


def _labeler(method: str, labels: np.ndarray, k: int, settings: Settings):
    """The head's targets before each epoch, from its log-probabilities on all samples."""
    import jax
    import jax.numpy as jnp

    if method == "supervised":
        one_hot = jax.nn.one_hot(jnp.asarray(labels), k)
        return lambda log_p, progress: (one_hot, {})
    if method == "sela":
        from hiref.studies.clustering.pseudolabels import solve_sela

        def sela(log_p, progress):
            out = solve_sela(log_p, settings.sela)
            return log_p.shape[0] * out.plan, {"iterations": out.iterations, "error": out.error}

        return sela
    from hiref.studies.clustering.p2ot import rho_at, solve_p2ot

    def p2ot(log_p, progress):
        rho = rho_at(progress, settings.p2ot)
        out = solve_p2ot(log_p, rho, settings.p2ot)
        # Rows scaled to sum to at most one: a sample's weight in the loss is its mass * N.
        return log_p.shape[0] * out.plan, {"rho": rho, "mass": out.plan.sum(),
                                           "iterations": out.iterations}

    return p2ot


def run_method(method: str, x: np.ndarray, labels: np.ndarray, seeds, settings: Settings):
    """Runs ``method`` once per seed; returns one dict per seed: ``pred`` (N,) cluster of every
    sample, ``seconds`` (after compilation), ``compile_seconds``, ``history`` (per epoch)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    k = int(labels.max()) + 1
    if method == "kmeans":
        out = []
        for seed in seeds:
            t0 = time.perf_counter()
            pred, _ = kmeans_labels(x, k, seed, settings.kmeans_n_init)
            out.append({"seed": seed, "pred": pred, "seconds": time.perf_counter() - t0,
                        "compile_seconds": 0.0, "history": {}})
        return out
    return _run_head(method, x, labels, k, seeds, settings)


def _run_head(method, x, labels, k, seeds, settings: Settings):
    import jax
    import jax.numpy as jnp

    from hiref.studies.clustering.heads import apply_head, init_head, train_head

    xj = jnp.asarray(x)
    labeler = _labeler(method, labels, k, settings)

    def fit(params, key):
        params, history = train_head(xj, params, labeler, key, settings.head, settings.training)
        return jnp.argmax(apply_head(params, xj, settings.head), axis=1), history

    def start(seed):
        key_init, key_order = jax.random.split(jax.random.key(seed))
        if settings.init == "kmeans":
            _, centroids = kmeans_labels(x, k, seed, settings.kmeans_n_init)
            return {"prototypes": jnp.asarray(centroids.T)}, key_order
        return init_head(key_init, x.shape[1], k, settings.head), key_order

    t0 = time.perf_counter()
    compiled = jax.jit(fit).lower(*start(seeds[0])).compile()
    compile_seconds = time.perf_counter() - t0
    out = []
    for seed in seeds:
        params, key = start(seed)
        t0 = time.perf_counter()
        pred, history = jax.block_until_ready(compiled(params, key))
        out.append({"seed": seed, "pred": np.asarray(pred, np.int64),
                    "seconds": time.perf_counter() - t0, "compile_seconds": compile_seconds,
                    "history": {name: np.asarray(v).tolist() for name, v in history.items()}})
    return out


def cluster_and_record(*, data, records, dataset: str, method: str, seeds, config: dict):
    """One workflow job: every seed of ``method`` on the prepared ``data``; writes one JSON
    record per seed (``records``, in the order of ``seeds``), atomically."""
    from hiref import provenance
    from hiref.studies.clustering.datasets import load_prepared
    from hiref.studies.clustering.metrics import class_accuracy, clustering_scores

    t0 = time.perf_counter()
    if len(records) != len(seeds):
        raise ValueError(f"{len(records)} record paths for {len(seeds)} seeds")
    prepared = load_prepared(data)
    x, labels = prepared["features"], prepared["labels"]
    settings = Settings.from_config(config)
    results = run_method(method, x, labels, list(seeds), settings)
    sizes = np.bincount(labels, minlength=len(prepared["class_names"]))
    device = provenance.device(method in HEAD_METHODS)
    versions = provenance.versions(provenance.PACKAGES + EXTRA_PACKAGES)
    for path, result in zip(records, results, strict=True):
        pred = result["pred"]
        provenance.write_json(path, {
            "study": "imbalanced_clustering", "dataset": dataset, "method": method,
            "seed": result["seed"], "n": int(x.shape[0]), "d": int(x.shape[1]),
            "k": int(sizes.size), "scores": clustering_scores(labels, pred),
            "class_names": prepared["class_names"], "class_sizes": sizes.tolist(),
            "class_accuracy": class_accuracy(labels, pred).tolist(),
            "cluster_sizes": np.bincount(pred, minlength=sizes.size).tolist(),
            "seconds": result["seconds"], "compile_seconds": result["compile_seconds"],
            "wall_seconds": time.perf_counter() - t0, "peak_rss_mb": provenance.peak_rss_mb(),
            "device": device, "params": settings.params(method),
            # The prepared set's provenance, without its (long) list of source rows.
            "data": {key: v for key, v in prepared["meta"].items() if key != "rows"},
            "history": result["history"], "versions": versions,
            # The commit of this code, wherever the workflow's working directory is.
            "git_commit": provenance.git_commit(Path(__file__).resolve().parent),
        })
