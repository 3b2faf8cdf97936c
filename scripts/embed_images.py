"""Snakemake script: ResNet50 (fc = Identity) embeddings of every image of a zip or folder.

input: images (zip or folder), weights (absent when params.random_init_seed is set: offline
tests and stand-in runs). params: size, normalize, batch_size, min_images, random_init_seed,
stand_in (stand-in images are embedded only when it is true, and then only they are).
threads: decoding workers. output: .npz with ``embeddings`` (float32, n x 2048), ``ids``
(sorted image paths), ``meta`` (JSON; the images' stand-in marker under ``stand_in``).
"""

import pooch
import torch

from hiref.accelerator import require_gpu
from hiref.datasets.image_files import source_marker
from hiref.datasets.images import build_resnet50, default_device, embed_images, save_embeddings
from hiref.provenance import job_log, versions


def main(sm) -> None:
    require_gpu(sm.resources.get("gpu", 0), torch.cuda.device_count(), "torch")  # or stop
    seed = sm.params.random_init_seed
    weights = sm.input.get("weights")
    model = build_resnet50(weights, random_init_seed=seed)
    device = default_device()
    torch.set_num_threads(sm.threads)
    embeddings, ids = embed_images(
        sm.input.images,
        model,
        size=sm.params.size,
        normalize=sm.params.normalize,
        batch_size=sm.params.batch_size,
        num_workers=max(sm.threads - 1, 0),
        device=device,
        min_images=sm.params.min_images,
        stand_in=sm.params.stand_in,
    )
    meta = {
        "source": str(sm.input.images),
        "model": "torchvision resnet50, fc = Identity",
        "weights": str(weights)
        if weights
        else f"RANDOM INIT (seed {seed}): not the paper's pretrained weights",
        "weights_sha256": pooch.file_hash(weights) if weights else None,
        "transform": f"Resize(({sm.params.size}, {sm.params.size})) + ToTensor"
        + (" + Normalize(ImageNet mean/std)" if sm.params.normalize else ""),
        "decoder": "Pillow, converted to RGB",
        "device": device,
        "n_images": len(ids),
        "versions": versions(("torch", "torchvision", "pillow", "hiref")),
    }
    marker = source_marker(sm.input.images, ids[0])
    if marker is not None:
        meta["stand_in"] = marker
    save_embeddings(sm.output[0], embeddings, ids, meta)
    print(f"embedded {len(ids)} images from {sm.input.images} on {device}")


with job_log(snakemake.log[0]):  # noqa: F821
    main(snakemake)  # noqa: F821
