"""Colour palettes: each image becomes a discrete measure of its colours in CIELAB.

A palette is the k-means clustering (k = 128 by default, seeded) of an image's pixels in
CIELAB (D65): the k centroids are the support, the fractions of pixels nearest to each
centroid are the masses (they sum to one). k-means is fitted on a seeded sample of
``sample_pixels`` pixels and every pixel is then assigned to its nearest centroid, so each
cluster holds at least the sampled pixels that formed it and no mass is zero.

Images come from colour photographs bundled with scikit-image, scikit-learn and matplotlib
(no download), optionally cut into ``tiles x tiles`` tiles that count as separate images (the split into train and test
stays by source photo: :attr:`PaletteSet.groups`), or from a folder or zip of image files
(COCO val2017).
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import numpy as np

from hiref.datasets.image_files import list_images, read_image
from hiref.provenance import atomic_path

#: Colour photographs bundled with installed packages (no download) -> (package, file or
#: loader, frame): scikit-image's data module, scikit-learn's sample images, matplotlib's
#: sample data.
BUNDLED_PHOTOS = {
    "astronaut": ("skimage", "astronaut", None),
    "chelsea": ("skimage", "chelsea", None),
    "coffee": ("skimage", "coffee", None),
    "hubble_deep_field": ("skimage", "hubble_deep_field", None),
    "immunohistochemistry": ("skimage", "immunohistochemistry", None),
    "motorcycle": ("skimage", "stereo_motorcycle", 0),  # the left view; the right nearly repeats it
    "retina": ("skimage", "retina", None),
    "rocket": ("skimage", "rocket", None),
    "china": ("sklearn", "china.jpg", None),
    "flower": ("sklearn", "flower.jpg", None),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg", None),
}
#: The source name of the bundled photographs in :class:`PaletteSet`.
BUNDLED = "bundled"


@dataclasses.dataclass(frozen=True)
class PaletteSettings:
    """How palettes are extracted.

    Attributes:
      k: colours per palette (k-means clusters).
      sample_pixels: pixels (seeded sample) k-means is fitted on; all pixels give the masses.
      seed: seed of the pixel samples and of k-means; image ``i`` uses ``(seed, i)``.
    """

    k: int = 128
    sample_pixels: int = 4096
    seed: int = 0

    def __post_init__(self):
        if self.k < 2:
            raise ValueError(f"warmstart.palette.k must be at least 2, got {self.k}")
        if self.sample_pixels < self.k:
            raise ValueError(
                f"warmstart.palette.sample_pixels ({self.sample_pixels}) must be at least "
                f"k ({self.k})"
            )


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """Where the pixels of one palette come from.

    Attributes:
      name: photo name (:data:`BUNDLED_PHOTOS`) or image id in the folder/zip.
      box: rows ``r0:r1`` and columns ``c0:c1`` of the image, ``(r0, r1, c0, c1)``;
        ``None`` for the whole image.
      group: index of the source photo: train and test images never share a group.
    """

    name: str
    box: tuple[int, int, int, int] | None
    group: int

    @property
    def label(self) -> str:
        if self.box is None:
            return self.name
        r0, r1, c0, c1 = self.box
        return f"{self.name}[{r0}:{r1}, {c0}:{c1}]"


@dataclasses.dataclass(frozen=True)
class PaletteSet:
    """Palettes of ``n`` images.

    Attributes:
      colors: (n, k, 3) float32 centroids in CIELAB.
      masses: (n, k) float32 cluster masses, each row summing to one.
      names: (n,) photo names or image ids.
      boxes: (n, 4) int rows/columns of each tile, ``-1`` for a whole image.
      groups: (n,) int source photo of each image (the unit of the train/test split).
      source: ``"bundled"`` or the folder/zip the images were read from.
      meta: provenance and settings (JSON-serialisable).
    """

    colors: np.ndarray
    masses: np.ndarray
    names: np.ndarray
    boxes: np.ndarray
    groups: np.ndarray
    source: str
    meta: dict

    def ref(self, index: int) -> ImageRef:
        box = self.boxes[index]
        return ImageRef(
            str(self.names[index]), None if box[0] < 0 else tuple(int(v) for v in box),
            int(self.groups[index]),
        )

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, colors=self.colors, masses=self.masses, names=self.names,
                boxes=self.boxes, groups=self.groups, source=self.source,
                meta=json.dumps(self.meta),
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> PaletteSet:
        """Reads a file written by :meth:`save`; refuses a corrupt or foreign one, naming it."""
        fields = ("colors", "masses", "names", "boxes", "groups", "source", "meta")
        values = read_arrays(path, fields, "a palette file written by extract_palettes")
        out = cls(**{
            **values, "source": str(values["source"]), "meta": json.loads(str(values["meta"]))
        })
        n, k = out.masses.shape
        if out.colors.shape != (n, k, 3) or not np.allclose(out.masses.sum(1), 1, atol=1e-4):
            raise ValueError(f"{path}: palette arrays are inconsistent (corrupt file)")
        return out


def read_arrays(path: str | os.PathLike, keys, what: str) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of an ``.npz``; a missing, corrupt or foreign file raises
    ``ValueError`` naming it and saying it is not ``what``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path}: not {what}: {err}") from err


def bundled_photo(name: str) -> np.ndarray:
    """A colour photograph bundled with scikit-image, scikit-learn or matplotlib, (h, w, 3)
    uint8."""
    if name not in BUNDLED_PHOTOS:
        raise ValueError(
            f"warmstart.bundled.photos: unknown photo {name!r}; allowed: "
            + ", ".join(BUNDLED_PHOTOS)
        )
    package, item, frame = BUNDLED_PHOTOS[name]
    if package == "skimage":
        import skimage.data

        image = getattr(skimage.data, item)()
    elif package == "sklearn":
        from sklearn.datasets import load_sample_image

        image = load_sample_image(item)
    else:
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data(item, asfileobj=False)) as fh:
            image = np.asarray(fh.convert("RGB"))
    return np.asarray(image if frame is None else image[frame])


def rgb_array(image, label: str) -> np.ndarray:
    """An image (PIL image or array) as (h, w, 3) uint8 RGB; grey-scale images (one channel,
    or three equal channels) raise ``ValueError`` naming ``label``: they have no colours to
    transfer."""
    if not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("RGB"))
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # alpha carries no colour
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{label}: grey-scale image (shape {image.shape}); a colour image is needed"
        )
    if image.dtype != np.uint8:
        raise ValueError(f"{label}: expected 8-bit RGB pixels, got {image.dtype}")
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    if np.array_equal(red, green) and np.array_equal(green, blue):
        raise ValueError(f"{label}: grey-scale image (its three channels are equal)")
    return image


def load_pixels(source: str, ref: ImageRef) -> np.ndarray:
    """The (h, w, 3) uint8 RGB pixels of one palette's image or tile."""
    if source == BUNDLED:
        label = f"bundled photo {ref.name}"
        image = rgb_array(bundled_photo(ref.name), label)
    else:
        label = f"{source}: {ref.name}"
        image = rgb_array(read_image(source, ref.name), label)
    if ref.box is not None:
        r0, r1, c0, c1 = ref.box
        image = image[r0:r1, c0:c1]
    return image


def tile_boxes(height: int, width: int, tiles: int) -> list[tuple[int, int, int, int]]:
    """``tiles x tiles`` boxes ``(r0, r1, c0, c1)`` covering an image, row by row."""
    rows = np.linspace(0, height, tiles + 1).astype(int)
    cols = np.linspace(0, width, tiles + 1).astype(int)
    return [
        (int(rows[i]), int(rows[i + 1]), int(cols[j]), int(cols[j + 1]))
        for i in range(tiles)
        for j in range(tiles)
    ]


def bundled_refs(photos: list[str], tiles: int) -> list[ImageRef]:
    """Tiles of the bundled photographs; group = the photo's position in ``photos``."""
    refs = []
    for group, name in enumerate(photos):
        height, width = rgb_array(bundled_photo(name), f"bundled photo {name}").shape[:2]
        refs += [ImageRef(name, box, group) for box in tile_boxes(height, width, tiles)]
    return refs


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB -> (h * w, 3) float32 CIELAB (D65)."""
    from skimage.color import rgb2lab

    return rgb2lab(rgb).reshape(-1, 3).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) CIELAB -> (..., 3) float RGB in [0, 1] (out-of-gamut colours clipped)."""
    from skimage.color import lab2rgb

    return np.clip(lab2rgb(lab), 0.0, 1.0)


def palette(
    lab: np.ndarray, settings: PaletteSettings, index: int, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """k-means palette of one image's (n, 3) CIELAB pixels: (k, 3) centroids, (k,) masses.

    ``index`` (the image's position) and ``settings.seed`` seed the pixel sample and k-means.
    """
    from sklearn.cluster import KMeans

    k = settings.k
    if len(lab) < k:
        raise ValueError(
            f"{label}: {len(lab)} pixels, fewer than the palette size k = {k}; use a larger "
            "image (or fewer tiles), or lower warmstart.palette.k"
        )
    rng = np.random.default_rng([settings.seed, index])
    sample = lab[rng.choice(len(lab), min(settings.sample_pixels, len(lab)), replace=False)]
    distinct = len(np.unique(sample, axis=0))
    if distinct < k:
        raise ValueError(
            f"{label}: only {distinct} distinct colours among {len(sample)} sampled pixels, "
            f"fewer than the palette size k = {k}; lower warmstart.palette.k"
        )
    seed = int(rng.integers(2**31 - 1))
    kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample)
    counts = np.bincount(kmeans.predict(lab), minlength=k)
    if counts.min() == 0:  # only with exactly tied distances
        raise ValueError(f"{label}: a palette colour received no pixel; lower warmstart.palette.k")
    return kmeans.cluster_centers_.astype(np.float32), (counts / counts.sum()).astype(np.float32)


def extract(
    source: str, refs: list[ImageRef], settings: PaletteSettings, meta: dict
) -> PaletteSet:
    """Palettes of every image of ``refs`` (read from ``source``: ``"bundled"`` or a
    folder/zip), in order. ``meta`` (provenance) is stored with them."""
    colors, masses = [], []
    for index, ref in enumerate(refs):
        lab = to_lab(load_pixels(source, ref))
        c, m = palette(lab, settings, index, f"{source}: {ref.label}")
        colors.append(c)
        masses.append(m)
    return PaletteSet(
        colors=np.stack(colors), masses=np.stack(masses),
        names=np.asarray([r.name for r in refs]),
        boxes=np.asarray([r.box or (-1, -1, -1, -1) for r in refs], dtype=np.int64),
        groups=np.asarray([r.group for r in refs], dtype=np.int64),
        source=source, meta={**meta, "palette": dataclasses.asdict(settings)},
    )


def folder_refs(
    source: str | os.PathLike, n_images: int, seed: int, skip_greyscale: bool
) -> tuple[list[ImageRef], list[str]]:
    """``n_images`` images of a folder or zip (COCO val2017) in a seeded random order, each its
    own group; returns the refs and the grey-scale images skipped (``skip_greyscale``: they
    are listed, not silently dropped; otherwise the first one raises)."""
    ids = list_images(source)
    if n_images > len(ids):
        raise ValueError(
            f"warmstart.coco.n_images = {n_images} but {source} holds {len(ids)} images"
        )
    refs, skipped = [], []
    for position in np.random.default_rng(seed).permutation(len(ids)):
        if len(refs) == n_images:
            break
        name = ids[position]
        try:
            rgb_array(read_image(source, name), f"{source}: {name}")
        except ValueError as err:
            if not (skip_greyscale and "grey-scale" in str(err)):
                raise
            skipped.append(name)
            continue
        refs.append(ImageRef(name, None, len(refs)))
    if len(refs) < n_images:
        raise ValueError(
            f"{source}: only {len(refs)} colour images ({len(skipped)} grey-scale skipped); "
            f"lower warmstart.coco.n_images to at most {len(refs)}"
        )
    return refs, skipped

