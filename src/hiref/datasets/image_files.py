"""Image files of a folder or a zip archive: sorted listing and decoding with Pillow.

Kept free of torch so that studies which only read pixels (colour palettes) need not
import it; ``hiref.datasets.images`` builds the ResNet50 embeddings on top of it. A stand-in
image set (:mod:`hiref.datasets.stand_ins.coco`: a zip with a marked comment, JPEGs with a
marked COM segment) is listed only with ``stand_in=True``, and then only stand-ins are.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from hiref.datasets.stand_ins.markers import judge, parse_marker_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not Path(name).name.startswith(".")


def list_images(source: str | os.PathLike, *, stand_in: bool = False) -> list[str]:
    """Sorted image ids of a folder (paths relative to it, searched recursively) or a zip
    (member names). Raises ``FileNotFoundError``/``ValueError`` naming ``source``, and
    :class:`~hiref.datasets.stand_ins.markers.StandInError` for stand-in images unless
    ``stand_in`` (for real images if it is)."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: image source does not exist")
    if source.is_dir():
        ids = [
            str(Path(root, f).relative_to(source))
            for root, _, files in os.walk(source, followlinks=True)
            for f in files
            if _is_image(f)
        ]
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            ids = [m.filename for m in zf.infolist() if not m.is_dir() and _is_image(m.filename)]
    else:
        raise ValueError(f"{source}: not a folder or a zip archive of images")
    if not ids:
        raise ValueError(f"{source}: contains no image files ({', '.join(IMAGE_SUFFIXES)})")
    ids = sorted(ids)
    judge(source, source_marker(source, ids[0]), stand_in=stand_in, what="image set")
    return ids


def source_marker(source: str | os.PathLike, first_id: str) -> dict | None:
    """The stand-in marker of an image set: a zip's comment, or the comment of a folder's
    first image (``first_id``); ``None`` for real images."""
    source = Path(source)
    if source.is_dir():
        try:
            with Image.open(source / first_id) as img:
                return parse_marker_text(img.info.get("comment"))
        except (OSError, UnidentifiedImageError):
            return None  # an undecodable image is reported, named, when it is embedded
    with zipfile.ZipFile(source) as zf:
        return parse_marker_text(zf.comment)


def decode_image(fh: BinaryIO, source: str | os.PathLike, image_id: str) -> Image.Image:
    """The decoded image of an open file, in its own mode (RGB, L, CMYK, ...); a file Pillow
    cannot decode raises ``ValueError`` naming ``source`` and ``image_id``."""
    try:
        with Image.open(fh) as img:
            img.load()
            return img
    except (OSError, UnidentifiedImageError, zipfile.BadZipFile) as err:
        raise ValueError(f"{source}: cannot decode image {image_id!r}: {err}") from err


def read_image(source: str | os.PathLike, image_id: str) -> Image.Image:
    """One image of a folder or zip (``image_id`` as :func:`list_images` gives it)."""
    source = Path(source)
    try:
        if source.is_dir():
            with open(source / image_id, "rb") as fh:
                return decode_image(fh, source, image_id)
        with zipfile.ZipFile(source) as zf, zf.open(image_id) as fh:
            return decode_image(fh, source, image_id)
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{source}: cannot read image {image_id!r}: {err}") from err
