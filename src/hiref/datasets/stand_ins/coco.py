"""Stand-in COCO 2017 validation images: ``val2017.zip`` holding ``val2017/000000xxxxxx.jpg``.

Like the real archive: 5000 JPEGs under a ``val2017/`` folder, named by zero-padded image id
(distinct ids below 581,930, sorted), mostly 640 pixels on the long side in COCO's aspect
ratios (640 x 480, 480 x 640, 640 x 427, ...; :data:`SIZES`), about 160 KB each, a few in
greyscale (:data:`GREYSCALE_FRACTION`), stored uncompressed in the zip. The marker is the zip
comment and a comment (COM) segment in every JPEG (:mod:`.markers`).

Content with structure, so that embeddings cluster: each image is a scene of one of the
photographs bundled with scikit-image and scikit-learn (:func:`source_photos`, 12 scenes): a
random crop resized to the image size, flipped, with its brightness, colour and contrast
varied, often with a patch of another scene pasted in (a second "object"), and sensor-like
noise (which also gives JPEGs of a realistic size).
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
from PIL import Image, ImageEnhance

from hiref.datasets.stand_ins.markers import make_marker, marker_text
from hiref.provenance import atomic_path

#: (width, height) -> share of images; COCO's common sizes, long side mostly 640.
SIZES = {(640, 480): 0.34, (480, 640): 0.12, (640, 427): 0.20, (427, 640): 0.08,
         (640, 426): 0.06, (640, 360): 0.05, (500, 375): 0.04, (640, 512): 0.04,
         (612, 612): 0.03, (375, 500): 0.02, (640, 640): 0.02}
#: Largest COCO 2017 image id (ids of the stand-ins are drawn below it).
MAX_IMAGE_ID = 581929
GREYSCALE_FRACTION = 0.002
#: JPEG quality: with the noise below, images average about 160 KB, as val2017's do.
JPEG_QUALITY = 95
NOISE_SD = 8.0
FOLDER = "val2017"


def source_photos() -> list[np.ndarray]:
    """The scenes: RGB uint8 photographs bundled with scikit-image and scikit-learn (no
    download), and two greyscale textures tinted."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [getattr(data, name)() for name in (
        "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
        "immunohistochemistry", "retina", "colorwheel")]
    photos += list(load_sample_images().images)  # china, flower
    for texture, tint in (("grass", (0.55, 0.9, 0.35)), ("gravel", (0.85, 0.7, 0.5))):
        grey = getattr(data, texture)().astype(np.float32)
        photos.append(np.clip(grey[..., None] * np.array(tint), 0, 255).astype(np.uint8))
    return [p[..., :3] for p in photos]


def image_ids(n_images: int, seed: int) -> np.ndarray:
    """``n_images`` distinct sorted ids in 1..:data:`MAX_IMAGE_ID`."""
    rng = np.random.default_rng([seed, 21])
    return np.sort(rng.choice(np.arange(1, MAX_IMAGE_ID + 1), n_images, replace=False))


def _crop(rng: np.random.Generator, photo: np.ndarray, width: int, height: int,
          scale: tuple[float, float]) -> Image.Image:
    """A random crop of ``photo`` with the aspect ratio of (width, height), resized to it."""
    h, w = photo.shape[:2]
    aspect = width / height
    full_w, full_h = (w, w / aspect) if w / h < aspect else (h * aspect, h)
    s = rng.uniform(*scale)
    cw, ch = max(int(full_w * s), 8), max(int(full_h * s), 8)
    x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    box = Image.fromarray(photo[y0:y0 + ch, x0:x0 + cw])
    return box.resize((width, height), Image.Resampling.BICUBIC)


def render(rng: np.random.Generator, photos: list[np.ndarray], noise: np.ndarray,
           size: tuple[int, int]) -> tuple[Image.Image, int]:
    """One image of ``size`` and its scene index."""
    width, height = size
    scene = int(rng.integers(len(photos)))
    img = _crop(rng, photos[scene], width, height, (0.35, 1.0))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhance, low, high in ((ImageEnhance.Brightness, 0.75, 1.25),
                               (ImageEnhance.Color, 0.6, 1.4),
                               (ImageEnhance.Contrast, 0.8, 1.2)):
        img = enhance(img).enhance(rng.uniform(low, high))
    if rng.random() < 0.6:
        other = int(rng.integers(len(photos)))
        side = int(min(width, height) * rng.uniform(0.15, 0.45))
        patch = _crop(rng, photos[other], side, side, (0.2, 0.6))
        img.paste(patch, (int(rng.integers(0, width - side)), int(rng.integers(0, height - side))))
    oy, ox = rng.integers(0, noise.shape[0] - height + 1), rng.integers(0, noise.shape[1] - width + 1)
    pixels = np.asarray(img, np.float32) + noise[oy:oy + height, ox:ox + width]
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < GREYSCALE_FRACTION:
        img = img.convert("L")
    return img, scene


def write_zip(path: str | os.PathLike, *, n_images: int, seed: int,
              progress=print) -> dict:
    """Writes the stand-in ``val2017.zip`` atomically; returns its marker."""
    rng = np.random.default_rng([seed, 22])
    photos = source_photos()
    noise = rng.normal(0.0, NOISE_SD, (700, 700, 3)).astype(np.float32)
    sizes = list(SIZES)
    shares = np.array(list(SIZES.values()))
    picks = rng.choice(len(sizes), n_images, p=shares / shares.sum())
    marker = make_marker("coco", seed, images=n_images, folder=FOLDER,
                         scenes=len(photos), jpeg_quality=JPEG_QUALITY)
    comment = marker_text(marker)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo(f"{FOLDER}/"), b"")
        for k, image_id in enumerate(image_ids(n_images, seed)):
            img, _ = render(rng, photos, noise, sizes[picks[k]])
            buffer = io.BytesIO()
            img.save(buffer, "JPEG", quality=JPEG_QUALITY, comment=comment.encode("latin-1"))
            zf.writestr(f"{FOLDER}/{image_id:012d}.jpg", buffer.getvalue())
            if (k + 1) % 500 == 0 or k + 1 == n_images:
                progress(f"val2017: {k + 1}/{n_images} images")
        zf.comment = comment.encode("latin-1")
    return marker
