"""Labelled feature sets for the imbalanced-clustering study, and their prepared file.

- ``digits_lt``: scikit-learn's bundled 8 x 8 digits (64 pixel features), made long-tailed.
- ``pbmc68k_reduced``: scanpy's bundled 700 PBMC cells, 50 principal components, labelled by
  their (naturally imbalanced) FACS-sorted cell type ``bulk_labels``.
- ``cifar100_lt``: CIFAR-100 training images made long-tailed (imbalance 0.01, as in the
  P²OT paper), read from the archive torchvision downloads and embedded by the workflow's
  ResNet50 rule (``write_image_zip`` hands the images to it).

Long-tailed subsets follow the authors' exponential profile: class c (in index order, class
0 the largest) keeps ``floor(n_max * ratio ** (c / (K - 1)))`` samples, ``n_max`` being the
smallest class size of the source so that every class can supply its share; the samples kept
are a seeded random choice. Every prepared set is centred and L2-normalised (the cosine
geometry of the head), and all methods see the same prepared features.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

#: Datasets the study can prepare.
DATASETS = ("digits_lt", "pbmc68k_reduced", "cifar100_lt")
#: Members of the CIFAR-100 python archive (cifar-100-python.tar.gz).
CIFAR_MEMBERS = {"train": "cifar-100-python/train", "meta": "cifar-100-python/meta"}
CIFAR_SIDE = 32


def check_imbalance_ratio(ratio, key: str) -> float:
    """``ratio`` as a float in (0, 1]; otherwise a ValueError naming the config ``key``."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        raise ValueError(
            f"{key} must lie in (0, 1] (smallest / largest class size), got {ratio!r}"
        )
    return float(ratio)


def long_tailed_counts(n_classes: int, n_max: int, ratio: float) -> np.ndarray:
    """(n_classes,) sizes ``floor(n_max * ratio ** (c / (n_classes - 1)))`` (at least 1)."""
    if n_classes < 2:
        raise ValueError(f"a long-tailed subset needs at least 2 classes, got {n_classes}")
    ratio = check_imbalance_ratio(ratio, "imbalance_ratio")
    exponents = np.arange(n_classes) / (n_classes - 1)
    return np.maximum(np.floor(n_max * ratio**exponents + 1e-9).astype(np.int64), 1)


def long_tailed_subset(labels, ratio: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded long-tailed subset of ``labels`` (classes 0..K-1)."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels)
    if np.count_nonzero(sizes) < 2 or sizes.min() == 0:
        raise ValueError(f"labels must hold every class 0..K-1 with K >= 2, got sizes {sizes}")
    counts = long_tailed_counts(sizes.size, int(sizes.min()), ratio)
    rng = np.random.default_rng(seed)
    keep = [rng.choice(np.flatnonzero(labels == c), m, replace=False) for c, m in
            enumerate(counts)]
    return np.sort(np.concatenate(keep))


def normalise_features(x) -> np.ndarray:
    """Centred, then every row scaled to unit L2 norm (float32); rows at the mean stay 0."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError(f"features must be a finite 2-D array, got shape {x.shape}")
    x = x - x.mean(axis=0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def digits_lt(ratio: float, seed: int) -> dict:
    """scikit-learn's digits, long-tailed (class 0 the head, 9 the tail)."""
    from sklearn.datasets import load_digits

    ratio = check_imbalance_ratio(ratio, "imbalanced_clustering.data.digits_lt.imbalance_ratio")
    digits = load_digits()
    rows = long_tailed_subset(digits.target, ratio, seed)
    return {
        "features": digits.data[rows], "labels": digits.target[rows].astype(np.int64),
        "class_names": [str(c) for c in digits.target_names],
        "meta": {"source": "sklearn.datasets.load_digits", "imbalance_ratio": ratio,
                 "seed": seed, "rows": rows.tolist()},
    }


def pbmc68k_reduced(label_key: str = "bulk_labels", representation: str = "X_pca") -> dict:
    """scanpy's bundled ``pbmc68k_reduced`` cells: ``obsm[representation]``, labelled by
    ``obs[label_key]`` (classes in the order of the categories)."""
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    if label_key not in adata.obs:
        raise ValueError(f"imbalanced_clustering.data.pbmc68k_reduced.labels: no obs column "
                         f"{label_key!r}; available: {', '.join(adata.obs.columns)}")
    if representation not in adata.obsm:
        raise ValueError(f"imbalanced_clustering.data.pbmc68k_reduced.representation: no obsm "
                         f"{representation!r}; available: {', '.join(adata.obsm.keys())}")
    column = adata.obs[label_key].astype("category")
    codes = column.cat.codes.to_numpy().astype(np.int64)
    present = np.flatnonzero(np.bincount(codes, minlength=len(column.cat.categories)))
    remap = np.full(len(column.cat.categories), -1, np.int64)
    remap[present] = np.arange(present.size)
    return {
        "features": np.asarray(adata.obsm[representation]), "labels": remap[codes],
        "class_names": [str(column.cat.categories[c]) for c in present],
        "meta": {"source": "scanpy.datasets.pbmc68k_reduced", "labels": label_key,
                 "representation": representation},
    }


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and NumPy arrays only: a corrupt or foreign archive
    cannot run code."""

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    })

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _read_member(archive: tarfile.TarFile, name: str, path) -> dict:
    try:
        fh = archive.extractfile(name)
    except KeyError:
        raise ValueError(f"{path}: not a CIFAR-100 python archive (no member {name})") from None
    try:
        return _ArrayUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot read {name}: {err}") from err


def read_cifar100(path: str | os.PathLike) -> dict:
    """The CIFAR-100 training split of ``cifar-100-python.tar.gz`` (the archive torchvision
    downloads): ``images`` uint8 (50000, 32, 32, 3), ``labels`` (fine, 0..99), ``class_names``.
    """
    try:
        with tarfile.open(path, "r:gz") as archive:
            train = _read_member(archive, CIFAR_MEMBERS["train"], path)
            meta = _read_member(archive, CIFAR_MEMBERS["meta"], path)
    except (OSError, tarfile.TarError) as err:
        raise ValueError(f"{path}: not a readable .tar.gz archive: {err}") from err
    try:
        data = np.asarray(train["data"], np.uint8)
        labels = np.asarray(train["fine_labels"], np.int64)
        names = [str(n) for n in meta["fine_label_names"]]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: CIFAR-100 member without the expected fields: {err}") from err
    if data.ndim != 2 or data.shape[1] != 3 * CIFAR_SIDE**2 or len(labels) != len(data):
        raise ValueError(f"{path}: CIFAR-100 data of shape {data.shape} with {len(labels)} "
                         "labels; expected (n, 3072) and n labels")
    if labels.min() < 0 or labels.max() >= len(names):
        raise ValueError(f"{path}: labels outside 0..{len(names) - 1}")
    images = data.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)
    return {"images": images, "labels": labels, "class_names": names}


def image_id(index: int) -> str:
    """Name of image ``index`` in the zip handed to the embedding (sorts in index order)."""
    return f"{index:06d}.png"


def write_image_zip(path: str | os.PathLike, images: np.ndarray) -> None:
    """Stores uint8 (n, h, w, 3) images as PNGs ``image_id(i)`` in a zip, atomically."""
    from PIL import Image

    from hiref.provenance import atomic_path

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for i, image in enumerate(images):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            zf.writestr(image_id(i), buffer.getvalue())


def cifar100_lt(archive: str | os.PathLike, ratio: float, seed: int) -> dict:
    """The long-tailed CIFAR-100 training subset: ``images``, ``labels``, ``class_names``."""
    ratio = check_imbalance_ratio(ratio, "imbalanced_clustering.data.cifar100_lt.imbalance_ratio")
    cifar = read_cifar100(archive)
    rows = long_tailed_subset(cifar["labels"], ratio, seed)
    return {
        "images": cifar["images"][rows], "labels": cifar["labels"][rows],
        "class_names": cifar["class_names"],
        "meta": {"source": str(archive), "imbalance_ratio": ratio, "seed": seed,
                 "rows": rows.tolist()},
    }


def embedded_features(embeddings: str | os.PathLike, n_images: int) -> np.ndarray:
    """Rows of an embedding file (``embed_images``) in image-index order; checks that it holds
    exactly the images ``0..n_images-1`` of ``write_image_zip``."""
    with np.load(embeddings) as data:
        ids, features = data["ids"], data["embeddings"]
    expected = [image_id(i) for i in range(n_images)]
    if [Path(str(i)).name for i in ids] != expected:
        raise ValueError(f"{embeddings}: holds {len(ids)} images that are not the "
                         f"{n_images} images of the long-tailed subset; rebuild it")
    return features


def save_prepared(path: str | os.PathLike, data: dict) -> None:
    """Writes a prepared set (normalised ``features``, ``labels``, ``class_names``, ``meta``),
    atomically. At least two classes are required."""
    from hiref.provenance import atomic_path

    labels = np.asarray(data["labels"], np.int64)
    sizes = np.bincount(labels, minlength=len(data["class_names"]))
    if np.count_nonzero(sizes) < 2:
        raise ValueError(f"{path}: the dataset holds a single class; clustering needs >= 2")
    features = normalise_features(data["features"])
    if len(features) != len(labels):
        raise ValueError(f"{path}: {len(features)} feature rows but {len(labels)} labels")
    meta = {**data["meta"], "n": len(labels), "d": features.shape[1],
            "class_sizes": sizes.tolist(), "preprocessing": "centred, rows L2-normalised"}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, features=features, labels=labels,
                 class_names=np.asarray(data["class_names"]), meta=json.dumps(meta))


def load_prepared(path: str | os.PathLike) -> dict:
    """Reads ``save_prepared``'s file; a file without its fields is refused, naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {
                "features": data["features"], "labels": data["labels"],
                "class_names": [str(n) for n in data["class_names"]],
                "meta": json.loads(str(data["meta"])),
            }
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a prepared clustering dataset: {err}") from err
    if out["features"].ndim != 2 or len(out["features"]) != len(out["labels"]):
        raise ValueError(f"{path}: features {out['features'].shape} do not match "
                         f"{len(out['labels'])} labels")
    return out


def extract_cifar100_lt(archive, *, ratio: float, seed: int, images, labels) -> None:
    """Writes the long-tailed CIFAR-100 subset as a zip of PNGs (``images``, for the ResNet50
    embedding rule) and its labels, class names and provenance (``labels``, .npz)."""
    from hiref.provenance import atomic_path

    subset = cifar100_lt(archive, ratio, seed)
    write_image_zip(images, subset["images"])
    meta = {**subset["meta"], "n_images": len(subset["labels"])}
    with atomic_path(labels) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, labels=subset["labels"], class_names=np.asarray(subset["class_names"]),
                 meta=json.dumps(meta))


def _embedded_cifar100_lt(embeddings, labels) -> dict:
    with np.load(labels) as data:
        out = {"labels": data["labels"], "class_names": [str(n) for n in data["class_names"]],
               "meta": json.loads(str(data["meta"]))}
    with np.load(embeddings) as data:
        out["meta"]["embedding"] = json.loads(str(data["meta"]))
    out["features"] = embedded_features(embeddings, len(out["labels"]))
    return out


def prepare(name: str, settings: dict, inputs: dict, path) -> None:
    """Builds dataset ``name`` with its config ``settings`` and writes the prepared file.
    ``inputs``: files of earlier steps (cifar100_lt: ``embeddings`` and ``labels``)."""
    if name == "digits_lt":
        data = digits_lt(settings["imbalance_ratio"], settings["seed"])
    elif name == "pbmc68k_reduced":
        data = pbmc68k_reduced(settings["labels"], settings["representation"])
    elif name == "cifar100_lt":
        data = _embedded_cifar100_lt(inputs["embeddings"], inputs["labels"])
    else:
        raise ValueError(f"unknown clustering dataset {name!r}; allowed: {', '.join(DATASETS)}")
    save_prepared(path, data)
