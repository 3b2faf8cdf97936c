"""Image listing, decoding and ResNet50 embedding on generated images (the 50:50 split:
tests/test_stand_ins.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import make_images, zip_folder
from PIL import Image

from hiref.datasets.images import (
    EMBED_DIM,
    build_resnet50,
    embed_images,
    image_transform,
    list_images,
)
from hiref.datasets.tv_compat import import_torchvision


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("img")
    folder = make_images(root / "folder")
    return folder, zip_folder(folder, root / "val2017.zip")


@pytest.fixture(scope="module")
def model():
    return build_resnet50(None, random_init_seed=0)


def test_listing_is_sorted_and_skips_non_images(images):
    folder, archive = images
    ids = list_images(folder)
    assert ids == sorted(ids) and len(ids) == 9
    assert "sub/a.png" in ids and "notes.txt" not in ids and ".hidden.jpg" not in ids
    assert list_images(archive) == [f"val2017/{i}" for i in ids]


def test_listing_errors_name_the_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope: image source does not exist"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: contains no image files"):
        list_images(tmp_path / "empty")
    (tmp_path / "x.bin").write_bytes(b"1234")
    with pytest.raises(ValueError, match="x.bin: not a folder or a zip"):
        list_images(tmp_path / "x.bin")


def test_transform_is_resize_both_sides_then_to_tensor():
    img = Image.fromarray(np.full((30, 90, 3), 255, dtype=np.uint8))
    t = image_transform(224)(img)
    assert t.shape == (3, 224, 224) and float(t.min()) == 1.0  # squashed, not cropped; [0, 1]
    tn = image_transform(224, normalize=True)(img)
    assert torch.allclose(tn[0], torch.full((224, 224), (1 - 0.485) / 0.229))


def test_embeddings_are_deterministic_and_equal_for_zip_and_folder(images, model):
    folder, archive = images
    emb_zip, ids_zip = embed_images(archive, model, size=64, batch_size=4, progress=False)
    emb_dir, ids_dir = embed_images(folder, model, size=64, batch_size=3, progress=False)
    assert emb_zip.shape == (9, EMBED_DIM) and emb_zip.dtype == np.float32
    assert np.isfinite(emb_zip).all() and np.unique(emb_zip.round(5), axis=0).shape[0] == 9
    assert [i.removeprefix("val2017/") for i in ids_zip] == ids_dir
    np.testing.assert_allclose(emb_zip, emb_dir, rtol=1e-5, atol=1e-5)


def test_weights_file_round_trip_and_bad_file(tmp_path, images, model):
    folder, _ = images
    reference = build_resnet50(None, random_init_seed=3)
    state = {k: v for k, v in reference.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, EMBED_DIM), torch.zeros(1000)
    path = tmp_path / "resnet50-deadbeef.pth"
    torch.save(state, path)
    loaded = build_resnet50(path)
    a, _ = embed_images(folder, loaded, size=64, progress=False)
    b, _ = embed_images(folder, reference, size=64, progress=False)
    np.testing.assert_array_equal(a, b)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(
        ValueError, match="resnet50-deadbeef.pth: not a torchvision ResNet50 state dict"
    ):
        build_resnet50(path)
    with pytest.raises(ValueError, match="random_init_seed"):
        build_resnet50(None)


def test_corrupt_image_is_named(tmp_path, model):
    folder = make_images(tmp_path / "imgs", n=2)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    with pytest.raises(ValueError, match=r"cannot decode image 'broken.jpg'"):
        embed_images(folder, model, size=32, progress=False)


def test_too_few_images_fail_before_decoding(tmp_path, model):
    folder = make_images(tmp_path / "imgs", n=2)
    (folder / "broken.jpg").write_bytes(b"never decoded")
    with pytest.raises(ValueError, match=r"imgs: has 6 images, the experiment needs at least 5000"):
        embed_images(folder, model, min_images=5000, progress=False)


def test_torchvision_import_workaround_is_idempotent():
    tv = import_torchvision()
    assert import_torchvision() is tv and hasattr(tv.models, "resnet50")
