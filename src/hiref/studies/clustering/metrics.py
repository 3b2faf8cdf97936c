"""Clustering scores against the true classes: Hungarian-matched accuracy, NMI, ARI, and
accuracy per class and on the head, medium and tail groups of the classes by size.

Two groupings (``GROUPINGS``), classes ordered by decreasing size (ties by index):

- ``authors`` (the P²OT authors' ``class_acc_analyze``): the first int(0.3 K) classes are the
  head, the next int(0.4 K) the medium, the last int(0.3 K) the tail; when 0.3 K is not
  whole, the classes between medium and tail belong to no group, as in their code. Their
  long-tailed sets number classes by size, so their index order is this order. With fewer
  than 4 classes a group has int(0.3 K) = 0 classes and scores NaN (their slice
  ``class_acc[-0:]`` would take every class as the tail).
- ``thirds``: three near-equal thirds (``np.array_split``), every class in a group.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

#: Groups of classes by size, largest first.
GROUPS = ("head", "medium", "tail")
#: How classes are grouped (module docstring).
GROUPINGS = ("authors", "thirds")
#: The authors' shares of the classes in the head, medium and tail.
AUTHORS_SHARES = (0.3, 0.4, 0.3)


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


def size_groups(sizes, grouping: str = "authors") -> dict[str, np.ndarray]:
    """Class indices of the head, medium and tail groups (``grouping``, module docstring),
    classes ordered by decreasing size (ties by index). Empty classes belong to no group."""
    if grouping not in GROUPINGS:
        raise ValueError(f"imbalanced_clustering.evaluation.groups must be one of "
                         f"{', '.join(GROUPINGS)}, got {grouping!r}")
    sizes = np.asarray(sizes)
    present = np.flatnonzero(sizes > 0)
    order = present[np.argsort(-sizes[present], kind="stable")]
    if grouping == "thirds":
        return dict(zip(GROUPS, np.array_split(order, len(GROUPS)), strict=True))
    head, medium, tail = (int(share * len(order)) for share in AUTHORS_SHARES)
    return {"head": order[:head], "medium": order[head:head + medium],
            "tail": order[len(order) - tail:] if tail else order[:0]}


def clustering_scores(y_true, y_pred, grouping: str = "authors") -> dict[str, float]:
    """acc (Hungarian-matched, over samples), macro_acc (mean over classes: the paper's
    "accuracy averaged over classes"), nmi, ari, and acc_head / acc_medium / acc_tail (mean
    class accuracy of each group of classes by size, :func:`size_groups`; NaN for an empty
    group). Needs at least two classes."""
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
    for group, members in size_groups(sizes, grouping).items():
        scores[f"acc_{group}"] = float(per_class[members].mean()) if members.size else float("nan")
    return scores
