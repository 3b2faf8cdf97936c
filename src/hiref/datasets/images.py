"""Image embeddings for the COCO and ImageNet experiments (paper, experiments 5 and 6).

Each image becomes the 2048-d output of torchvision's ResNet50 with ``fc = Identity``,
as in the authors' ImageNet notebook: ``Resize((224, 224))`` (both sides, no crop) then
``ToTensor``, without ImageNet normalisation unless asked for. Images are decoded with
Pillow and converted to RGB whatever their mode (greyscale, CMYK, palette, RGBA), as
torchvision's ``ImageFolder`` loader that the authors used does; ImageNet's train set
has a few greyscale and CMYK JPEGs. Files are read in sorted order (of paths inside a
folder or of member names inside a zip), so the output rows are reproducible.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hiref.datasets import EMBED_DIM
from hiref.datasets.image_files import decode_image, list_images
from hiref.datasets.tv_compat import import_torchvision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_transform(size: int = 224, normalize: bool = False):
    """The paper's preprocessing: ``Resize((size, size))`` + ``ToTensor`` (+ optional ``Normalize``)."""
    transforms = import_torchvision().transforms
    steps = [transforms.Resize((size, size)), transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return transforms.Compose(steps)


class ImageDataset(torch.utils.data.Dataset):
    """Images of a folder or zip, decoded with Pillow, converted to RGB and transformed."""

    def __init__(self, source: str | os.PathLike, ids: list[str], transform):
        self.source = Path(source)
        self.ids = ids
        self.transform = transform
        self._zip = None  # opened lazily, once per DataLoader worker process

    def __len__(self) -> int:
        return len(self.ids)

    def _open(self, image_id: str):
        if self.source.is_dir():
            return open(self.source / image_id, "rb")
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.source)
        return self._zip.open(image_id)

    def __getitem__(self, index: int) -> torch.Tensor:
        image_id = self.ids[index]
        with self._open(image_id) as fh:
            rgb = decode_image(fh, self.source, image_id).convert("RGB")
        return self.transform(rgb)


def build_resnet50(
    weights: str | os.PathLike | None, *, random_init_seed: int | None = None
) -> torch.nn.Module:
    """ResNet50 with ``fc = Identity`` in eval mode.

    ``weights`` is a torchvision state-dict file (``resnet50-0676ba61.pth``). ``None`` with
    a ``random_init_seed`` builds seeded random weights: for tests only, the embedding
    metadata records it.
    """
    models = import_torchvision().models
    if weights is None:
        if random_init_seed is None:
            raise ValueError(
                "ResNet50 needs a weights file; random weights need an explicit random_init_seed"
            )
        torch.manual_seed(random_init_seed)
        model = models.resnet50(weights=None)
    else:
        model = models.resnet50(weights=None)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as err:
            raise ValueError(f"{weights}: not a torchvision ResNet50 state dict: {err}") from err
    model.fc = torch.nn.Identity()
    return model.eval()


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def embed_images(
    source: str | os.PathLike,
    model: torch.nn.Module,
    *,
    size: int = 224,
    normalize: bool = False,
    batch_size: int = 128,
    num_workers: int = 0,
    device: str | None = None,
    min_images: int = 0,
    progress: bool = True,
    stand_in: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Embed every image of ``source`` in sorted order; returns ``(float32 (n, 2048), ids)``.

    ``min_images`` is checked against the listing before any image is decoded, so a
    folder too small for the later split fails at once. Stand-in images are embedded only
    with ``stand_in=True`` (:func:`~hiref.datasets.image_files.list_images`).
    """
    ids = list_images(source, stand_in=stand_in)
    if len(ids) < min_images:
        raise ValueError(
            f"{source}: has {len(ids)} images, the experiment needs at least {min_images}"
        )
    device = device or default_device()
    loader = torch.utils.data.DataLoader(
        ImageDataset(source, ids, image_transform(size, normalize)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.startswith("cuda"),
    )
    model = model.to(device)
    out = np.empty((len(ids), EMBED_DIM), dtype=np.float32)
    row = 0
    with torch.inference_mode():
        for batch in tqdm(
            loader, desc=f"embedding {Path(source).name}", unit="batch", disable=not progress
        ):
            feats = model(batch.to(device, non_blocking=True)).float().cpu().numpy()
            out[row : row + len(feats)] = feats
            row += len(feats)
    return out, ids


def save_embeddings(
    path: str | os.PathLike, embeddings: np.ndarray, ids: list[str], meta: dict
) -> None:
    """Write ``embeddings``, ``ids`` and ``meta`` (JSON text) to an ``.npz``."""
    np.savez(path, embeddings=embeddings, ids=np.asarray(ids), meta=json.dumps(meta))
