"""The study's methods on one prepared dataset, and the record of each run.

- ``kmeans``: scikit-learn k-means (k = number of classes) on the prepared features.
- ``sela``: a head trained on balanced-OT pseudo-labels (``pseudolabels.solve_sela``).
- ``p2ot``: a head trained on P²OT pseudo-labels with growing mass rho (``p2ot.solve_p2ot``).
- ``supervised``: the same head trained on the true labels: the ceiling of the features.

The three heads share the head, the optimiser, the epochs, the model selection and, per
seed, the initial head and the mini-batch order; only the targets differ. A head method is
compiled once per job and then run for every seed (and every KL weight of a sweep:
``run_kl_sweep``); ``seconds`` excludes compilation, kept as ``compile_seconds``. Every
record of a pseudo-label method carries its solver's iterations and converged flag at every
labelling (``solver``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hiref.studies.clustering.heads import HeadConfig, TrainConfig
    from hiref.studies.clustering.p2ot import P2OTConfig
    from hiref.studies.clustering.pseudolabels import SelaConfig

#: Methods whose targets are optimal-transport pseudo-labels (their records have ``solver``).
PSEUDO_LABEL_METHODS = ("sela", "p2ot")
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
    """Every setting of the study's methods (``from_config`` reads the config section):
    model_selection (heads.SELECTIONS) and groups (metrics.GROUPINGS) follow the P²OT
    authors by default."""

    head: HeadConfig
    training: TrainConfig
    sela: SelaConfig
    p2ot: P2OTConfig
    init: str = "random"
    kmeans_n_init: int = 10
    model_selection: str = "loss"
    groups: str = "authors"

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
        evaluation = section.get("evaluation", {})
        settings = cls(
            head=HeadConfig(**head), training=TrainConfig(**section.get("training", {})),
            init=init, sela=SelaConfig(**section.get("sela", {})),
            p2ot=P2OTConfig(**section.get("p2ot", {})),
            kmeans_n_init=section.get("kmeans", {}).get("n_init", 10),
            model_selection=evaluation.get("model_selection", "loss"),
            groups=evaluation.get("groups", "authors"),
        )
        if init == "kmeans" and settings.head.kind != "linear":
            raise ValueError("imbalanced_clustering.head.init: kmeans starts the prototypes at "
                             "the k-means centroids, which needs head.kind linear")
        return settings

    def params(self, method: str) -> dict:
        """The settings a method used, for its record."""
        evaluation = {"groups": self.groups}
        if method == "kmeans":
            return {"n_init": self.kmeans_n_init, "evaluation": evaluation}
        out = {"head": dataclasses.asdict(self.head), "init": self.init,
               "training": dataclasses.asdict(self.training),
               "evaluation": {**evaluation, "model_selection": self.model_selection}}
        if method in PSEUDO_LABEL_METHODS:
            out[method] = dataclasses.asdict(getattr(self, method))
        return out


def kmeans_labels(x: np.ndarray, k: int, seed: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means cluster of every row and the (k, d) centroids."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32)


def _labeler(method: str, labels: np.ndarray, k: int, settings: Settings, kl_weight):
    """The head's targets before each epoch, from its log-probabilities on all samples;
    ``kl_weight`` (maybe traced) is P²OT's lam."""
    import jax
    import jax.numpy as jnp

    if method == "supervised":
        one_hot = jax.nn.one_hot(jnp.asarray(labels), k)
        return lambda log_p, progress: (one_hot, {})
    if method == "sela":
        from hiref.studies.clustering.pseudolabels import solve_sela

        def sela(log_p, progress):
            out = solve_sela(log_p, settings.sela)
            return log_p.shape[0] * out.plan, {"iterations": out.iterations, "error": out.error,
                                               "converged": out.converged}

        return sela
    from hiref.studies.clustering.p2ot import rho_at, solve_p2ot

    def p2ot(log_p, progress):
        rho = rho_at(progress, settings.p2ot)
        out = solve_p2ot(log_p, rho, settings.p2ot, kl_weight)
        # Rows scaled to sum to at most one: a sample's weight in the loss is its mass * N.
        return log_p.shape[0] * out.plan, {"rho": rho, "mass": out.plan.sum(),
                                           "iterations": out.iterations,
                                           "converged": out.converged}

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
    runs = [(seed, settings.p2ot.kl_weight) for seed in seeds]
    return _run_head(method, x, labels, k, runs, settings)


def run_kl_sweep(x: np.ndarray, labels: np.ndarray, seeds, kl_weights, settings: Settings):
    """P²OT at every KL weight lam of ``kl_weights`` and every seed, compiled once; one dict
    per (lam, seed) as :func:`run_method`'s, with ``kl_weight``."""
    k = int(labels.max()) + 1
    runs = [(seed, float(lam)) for lam in kl_weights for seed in seeds]
    return _run_head("p2ot", x, labels, k, runs, settings)


def _run_head(method, x, labels, k, runs, settings: Settings):
    import jax
    import jax.numpy as jnp

    from hiref.studies.clustering.heads import apply_head, init_head, train_head

    xj = jnp.asarray(x)

    def fit(params, key, kl_weight):
        labeler = _labeler(method, labels, k, settings, kl_weight)
        params, history = train_head(xj, params, labeler, key, settings.head, settings.training,
                                     settings.model_selection)
        return jnp.argmax(apply_head(params, xj, settings.head), axis=1), history

    def start(seed):
        key_init, key_order = jax.random.split(jax.random.key(seed))
        if settings.init == "kmeans":
            _, centroids = kmeans_labels(x, k, seed, settings.kmeans_n_init)
            return {"prototypes": jnp.asarray(centroids.T)}, key_order
        return init_head(key_init, x.shape[1], k, settings.head), key_order

    t0 = time.perf_counter()
    lam = jnp.asarray(runs[0][1], xj.dtype)
    compiled = jax.jit(fit).lower(*start(runs[0][0]), lam).compile()
    compile_seconds = time.perf_counter() - t0
    out = []
    for seed, kl_weight in runs:
        params, key = start(seed)
        t0 = time.perf_counter()
        pred, history = jax.block_until_ready(
            compiled(params, key, jnp.asarray(kl_weight, xj.dtype)))
        out.append({"seed": seed, "kl_weight": kl_weight, "pred": np.asarray(pred, np.int64),
                    "seconds": time.perf_counter() - t0, "compile_seconds": compile_seconds,
                    "history": {name: np.asarray(v).tolist() for name, v in history.items()}})
        print(f"{method} seed {seed}" + (f" lam {kl_weight}" if method == "p2ot" else "")
              + f": {out[-1]['seconds']:.2f} s", flush=True)
    return out


def solver_summary(history: dict) -> dict | None:
    """The pseudo-label solver's iterations and converged flag at every labelling, and how
    many labellings stopped at the iteration cap; None for methods without a solver."""
    if "converged" not in history:
        return None
    converged = [bool(c) for c in history["converged"]]
    return {"iterations": [int(i) for i in history["iterations"]], "converged": converged,
            "capped": converged.count(False)}


def _record(result: dict, *, dataset, method, x, labels, prepared, settings: Settings, t0,
            device, versions) -> dict:
    from hiref import provenance
    from hiref.studies.clustering.metrics import class_accuracy, clustering_scores

    pred = result["pred"]
    sizes = np.bincount(labels, minlength=len(prepared["class_names"]))
    history = result["history"]
    params = settings.params(method)
    if method == "p2ot":
        params["p2ot"]["kl_weight"] = result["kl_weight"]
    selected = history.get("selected")
    return {
        "study": "imbalanced_clustering", "dataset": dataset, "method": method,
        "seed": result["seed"], "n": int(x.shape[0]), "d": int(x.shape[1]),
        "k": int(sizes.size), "scores": clustering_scores(labels, pred, settings.groups),
        "class_names": prepared["class_names"], "class_sizes": sizes.tolist(),
        "class_accuracy": class_accuracy(labels, pred).tolist(),
        "cluster_sizes": np.bincount(pred, minlength=sizes.size).tolist(),
        "selected_epoch": None if selected is None else int(np.flatnonzero(selected)[0]),
        "solver": solver_summary(history),
        "seconds": result["seconds"], "compile_seconds": result["compile_seconds"],
        "wall_seconds": time.perf_counter() - t0, "peak_rss_mb": provenance.peak_rss_mb(),
        "device": device, "params": params,
        # The prepared set's provenance, without its (long) list of source rows.
        "data": {key: v for key, v in prepared["meta"].items() if key != "rows"},
        "history": history, "versions": versions,
        # The commit of this code, wherever the workflow's working directory is.
        "git_commit": provenance.git_commit(),
    }


def cluster_and_record(*, data, records, dataset: str, method: str, seeds, config: dict,
                       kl_weights=None):
    """One workflow job: every seed of ``method`` on the prepared ``data`` (with
    ``kl_weights``: P²OT at every lam and seed, lam-major); writes one JSON record per run
    (``records``, in that order), atomically."""
    from hiref import provenance
    from hiref.studies.clustering.datasets import load_prepared

    t0 = time.perf_counter()
    n_runs = len(seeds) * (1 if kl_weights is None else len(kl_weights))
    if len(records) != n_runs:
        raise ValueError(f"{len(records)} record paths for {n_runs} runs")
    prepared = load_prepared(data)
    x, labels = prepared["features"], prepared["labels"]
    settings = Settings.from_config(config)
    if kl_weights is None:
        results = run_method(method, x, labels, list(seeds), settings)
    else:
        results = run_kl_sweep(x, labels, list(seeds), kl_weights, settings)
    context = {"dataset": dataset, "method": method, "x": x, "labels": labels,
               "prepared": prepared, "settings": settings, "t0": t0,
               "device": provenance.device(method in HEAD_METHODS),
               "versions": provenance.versions(provenance.PACKAGES + EXTRA_PACKAGES)}
    for path, result in zip(records, results, strict=True):
        provenance.write_json(path, _record(result, **context))
