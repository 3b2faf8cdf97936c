"""Clustering scores against the true classes: Hungarian-matched accuracy, NMI, ARI, and
accuracy per class and on the head, medium and tail thirds of the classes by size."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

#: Groups of classes by size (largest first): three near-equal thirds (np.array_split).
GROUPS = ("head", "medium", "tail")


def _check_labels(labels, name: str, n: int | None = None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D integer array, got shape "
                         f"{labels.shape} and dtype {labels.dtype}")
    if labels.min() < 0:
        raise ValueError(f"{name} must be non-negative class or cluster indices")
    if n is not None and labels.size != n:
        raise ValueError(f"{name} has {labels.size} entries, the true labels {n}")
    return labels


def hungarian_match(y_true, y_pred) -> np.ndarray:
    """``mapping[c]`` = the class cluster ``c`` is matched to, maximising the number of
    agreeing samples (one cluster per class; unmatched clusters map to -1)."""
    y_true = _check_labels(y_true, "y_true")
    y_pred = _check_labels(y_pred, "y_pred", y_true.size)
    n_clusters, n_classes = y_pred.max() + 1, y_true.max() + 1
    counts = np.zeros((n_clusters, n_classes), np.int64)
    np.add.at(counts, (y_pred, y_true), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = np.full(n_clusters, -1, np.int64)
    mapping[rows] = cols
    return mapping


def class_accuracy(y_true, y_pred) -> np.ndarray:
    """(n_classes,) fraction of each true class whose cluster is matched to it (Hungarian);
    NaN for a class index with no sample."""
    y_true = _check_labels(y_true, "y_true")
    matched = hungarian_match(y_true, y_pred)[_check_labels(y_pred, "y_pred", y_true.size)]
    sizes = np.bincount(y_true)
    hits = np.bincount(y_true, weights=matched == y_true, minlength=sizes.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, hits / np.maximum(sizes, 1), np.nan)


def size_groups(sizes) -> dict[str, np.ndarray]:
    """Class indices of the head, medium and tail thirds, classes ordered by decreasing size
    (ties by index). Empty classes (size 0) belong to no group."""
    sizes = np.asarray(sizes)
    present = np.flatnonzero(sizes > 0)
    order = present[np.argsort(-sizes[present], kind="stable")]
    return dict(zip(GROUPS, np.array_split(order, len(GROUPS)), strict=True))


def clustering_scores(y_true, y_pred) -> dict[str, float]:
    """acc (Hungarian-matched, over samples), macro_acc (mean over classes: the paper's
    "accuracy averaged over classes"), nmi, ari, and acc_head / acc_medium / acc_tail (mean
    class accuracy of each third of the classes by size). Needs at least two classes."""
    y_true = _check_labels(y_true, "y_true")
    y_pred = _check_labels(y_pred, "y_pred", y_true.size)
    sizes = np.bincount(y_true)
    if np.count_nonzero(sizes) < 2:
        raise ValueError("the true labels hold a single class: clustering scores need >= 2")
    per_class = class_accuracy(y_true, y_pred)
    scores = {
        "acc": float(np.nansum(per_class * sizes) / y_true.size),
        "macro_acc": float(np.nanmean(per_class)),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }
    for group, members in size_groups(sizes).items():
        scores[f"acc_{group}"] = float(per_class[members].mean()) if members.size else float("nan")
    return scores
