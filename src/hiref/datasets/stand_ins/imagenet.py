"""Stand-in ImageNet at the embedding level: the ``.npz`` that ``embed_images`` writes for
ILSVRC2012 train (``results/embeddings/imagenet.npz``), without images or a network.

Same keys and types: ``embeddings`` float32 ``(rows, dim)`` (1,281,167 x 2048, 10.5 GB),
``ids`` (``<wnid>/<wnid>_<k>.JPEG``, sorted, as the image folder is read) and ``meta`` (JSON
text with the keys embed_images writes, and the marker under ``stand_in``).

Features like a ResNet50's pooled outputs: non-negative, clustered by class. 1000 classes of
732 to 1300 images (ImageNet's range; sizes sum to ``rows``) in 100 superclasses; a row is
``relu(superclass centre + class offset + class-specific low-rank variation + noise)``.
Written chunk by chunk (:class:`hiref.datasets.npz_stream.NpzWriter`), so memory stays at a
chunk whatever ``rows``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from hiref.datasets.npz_stream import NpzWriter
from hiref.datasets.stand_ins.markers import KEY, make_marker
from hiref.provenance import atomic_path, versions

#: ImageNet-1k train: 1000 classes of at most 1300 and at least 732 images.
MAX_PER_CLASS, MIN_PER_CLASS = 1300, 732
SUPERCLASSES = 100
VARIATION_RANK = 16
#: Scales of the feature model, chosen so that distances between features of one class
#: (about 20) and of different classes (about 28) are of the order of real ResNet50 ones
#: (the paper's ImageNet W1 costs are 19 to 24).
CENTRE_SCALE, CLASS_SCALE, VARIATION_SCALE, NOISE_SCALE = 0.45, 0.22, 0.1, 0.24


def class_sizes(rows: int, classes: int, seed: int) -> np.ndarray:
    """Images per class: :data:`MAX_PER_CLASS` each, less a seeded deficit spread over some
    classes (never below :data:`MIN_PER_CLASS`), summing to ``rows``."""
    if not classes * MIN_PER_CLASS <= rows <= classes * MAX_PER_CLASS:
        if rows < classes:
            raise ValueError(f"{rows} rows cannot fill {classes} classes")
        base = np.full(classes, rows // classes)
        base[: rows % classes] += 1
        return base
    rng = np.random.default_rng([seed, 31])
    sizes = np.full(classes, MAX_PER_CLASS)
    deficit = classes * MAX_PER_CLASS - rows
    while deficit:  # one class at a time loses a random part of what it may lose
        short = int(rng.choice(np.flatnonzero(sizes > MIN_PER_CLASS)))
        cut = min(deficit, sizes[short] - MIN_PER_CLASS,
                  int(rng.integers(1, MAX_PER_CLASS - MIN_PER_CLASS + 1)))
        sizes[short] -= cut
        deficit -= cut
    return sizes


def wnids(classes: int, seed: int) -> list[str]:
    """WordNet-like ids ``n0xxxxxxx``: distinct, sorted (not the real synsets)."""
    rng = np.random.default_rng([seed, 32])
    return [f"n{v:08d}" for v in np.sort(rng.choice(10**7, classes, replace=False) + 10**6)]


def image_ids(sizes: np.ndarray, seed: int) -> np.ndarray:
    """``<wnid>/<wnid>_<k>.JPEG`` for every image, in sorted order (the rows' order)."""
    ids = [f"{w}/{w}_{k}.JPEG" for w, size in zip(wnids(len(sizes), seed), sizes)
           for k in range(1, size + 1)]
    return np.sort(np.asarray(ids))


def write_embeddings(path: str | os.PathLike, *, rows: int, classes: int, dim: int, seed: int,
                     chunk_rows: int = 16384, progress=print) -> dict:
    """Writes the stand-in embeddings ``.npz`` atomically; returns its marker."""
    sizes = class_sizes(rows, classes, seed)
    ids = image_ids(sizes, seed)
    # Row r belongs to the class of its id (ids are sorted by wnid, then by name).
    label = np.searchsorted(np.asarray(wnids(classes, seed)),
                            np.char.partition(ids, "/")[:, 0])
    rng = np.random.default_rng([seed, 33])
    supers = rng.gamma(0.6, CENTRE_SCALE / 0.6, (SUPERCLASSES, dim)).astype(np.float32)
    parent = rng.integers(0, SUPERCLASSES, classes)
    centres = supers[parent] + rng.normal(0, CLASS_SCALE, (classes, dim)).astype(np.float32)
    bases = rng.normal(0, VARIATION_SCALE, (SUPERCLASSES, VARIATION_RANK, dim)).astype(np.float32)
    marker = make_marker("imagenet", seed, rows=rows, classes=classes, dim=dim,
                         superclasses=SUPERCLASSES)
    meta = {
        "source": "generated stand-in (no images)", "model": "none: generated features",
        "weights": "none: stand-in features, not the paper's", "weights_sha256": None,
        "transform": None, "decoder": None, "device": "cpu", "n_images": rows,
        "versions": versions(("numpy", "hiref")), KEY: marker,
    }
    noise = np.random.default_rng([seed, 34])
    with atomic_path(path) as tmp, NpzWriter(tmp) as npz:
        with npz.rows("embeddings", (rows, dim), np.float32) as write:
            for start in range(0, rows, chunk_rows):
                cls = label[start:start + chunk_rows]
                z = noise.standard_normal((len(cls), VARIATION_RANK), dtype=np.float32)
                block = centres[cls]
                for group in np.unique(parent[cls]):
                    members = parent[cls] == group
                    block[members] += z[members] @ bases[group]
                block += noise.standard_normal(block.shape, dtype=np.float32) * NOISE_SCALE
                write(np.maximum(block, 0.0, out=block))
                if (start // chunk_rows) % 10 == 0 or start + chunk_rows >= rows:
                    progress(f"imagenet: {min(start + chunk_rows, rows)}/{rows} rows")
        npz.add("ids", ids)
        npz.add("meta", np.asarray(json.dumps(meta)))
    return marker
