"""Warm-start study: palettes, split, learned initializer, Sinkhorn from every initializer,
bad input, and one small end-to-end run of the study's rules."""

from __future__ import annotations

import json
import zipfile

import jax
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_snakemake
from PIL import Image
from skimage.color import rgb2lab

from hiref.studies.warmstart import experiment, initializers, model, palettes, steps

K = 8
EPS = 0.5
SINKHORN = experiment.SinkhornSettings(epsilon=EPS, threshold=1e-3, max_iterations=5000)


def blocks_image(colors: np.ndarray, counts: list[int], width: int = 10) -> np.ndarray:
    """An RGB image made of horizontal bands: colour c fills counts[c] rows of ``width``."""
    return np.concatenate(
        [np.broadcast_to(c, (n, width, 3)) for c, n in zip(colors, counts)]
    ).astype(np.uint8)


@pytest.fixture(scope="module")
def palette_set():
    """16 palettes of k = 8 colours from random photos-like images, 4 source groups."""
    rng = np.random.default_rng(0)
    colors, masses = [], []
    settings = palettes.PaletteSettings(k=K, sample_pixels=256, seed=0)
    for index in range(16):
        base = rng.integers(0, 256, 3)
        rgb = np.clip(base + rng.normal(0, 40, (24, 24, 3)), 0, 255).astype(np.uint8)
        c, m = palettes.palette(palettes.to_lab(rgb), settings, index, f"image {index}")
        colors.append(c)
        masses.append(m)
    return np.stack(colors), np.stack(masses), np.repeat(np.arange(4), 4)


@pytest.fixture(scope="module")
def trained(palette_set):
    colors, masses, groups = palette_set
    train, test = experiment.split_groups(groups, 0.25, seed=0)
    train_pairs = experiment.ordered_pairs(train, None, 0, "train_pairs")
    test_pairs = experiment.ordered_pairs(test, 4, 1, "test_pairs")
    net = model.ModelConfig(hidden=16)
    training = model.TrainConfig(learning_rate=3e-3, steps=60, batch_pairs=8, seed=0)
    params, losses = model.train(colors, masses, train_pairs, net, training, EPS)
    return params, net, training, losses, train_pairs, test_pairs


# ----------------------------------------------------------------------------- palettes


def test_palette_is_lab_centroids_with_pixel_fractions():
    rgb_colors = np.array([[255, 0, 0], [0, 128, 0], [0, 0, 255], [250, 250, 20],
                           [30, 30, 30], [200, 120, 255], [10, 220, 220], [255, 255, 255]])
    counts = [5, 10, 15, 20, 25, 30, 35, 40]
    image = blocks_image(rgb_colors, counts)
    settings = palettes.PaletteSettings(k=8, sample_pixels=1000, seed=3)
    colors, masses = palettes.palette(palettes.to_lab(image), settings, 0, "bands")
    expected = rgb2lab(rgb_colors[None].astype(np.uint8))[0]
    order = [int(np.argmin(np.linalg.norm(colors - e, axis=1))) for e in expected]
    assert sorted(order) == list(range(8))
    np.testing.assert_allclose(colors[order], expected, atol=1e-3)  # CIELAB, not RGB
    np.testing.assert_allclose(masses[order], np.array(counts) / sum(counts), rtol=1e-6)
    assert masses.dtype == np.float32 and masses.sum() == pytest.approx(1.0, abs=1e-6)


def test_palette_is_seeded():
    rgb = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    lab = palettes.to_lab(rgb)
    settings = palettes.PaletteSettings(k=16, sample_pixels=400, seed=7)
    a = palettes.palette(lab, settings, 2, "x")
    b = palettes.palette(lab, settings, 2, "x")
    c = palettes.palette(lab, palettes.PaletteSettings(k=16, sample_pixels=400, seed=8), 2, "x")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert (a[1] > 0).all() and a[1].sum() == pytest.approx(1.0, abs=1e-6)


def test_skimage_tiles_cover_each_photo_and_keep_their_photo_as_group():
    refs = palettes.skimage_refs(["chelsea", "coffee"], tiles=2)
    assert [r.group for r in refs] == [0] * 4 + [1] * 4
    boxes = [r.box for r in refs[:4]]
    assert boxes[0][0] == 0 and boxes[-1][1] == 300 and boxes[-1][3] == 451  # chelsea 300x451
    assert sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in boxes) == 300 * 451
    pixels = palettes.load_pixels(palettes.SKIMAGE, refs[5])
    assert pixels.shape == (200, 300, 3) and pixels.dtype == np.uint8  # coffee is 400x600


def test_palette_set_round_trip_and_corrupt_file(tmp_path):
    refs = [palettes.ImageRef("chelsea", (0, 60, 0, 60), 0), palettes.ImageRef("coffee", None, 1)]
    settings = palettes.PaletteSettings(k=K, sample_pixels=200, seed=0)
    out = palettes.extract(palettes.SKIMAGE, refs, settings, {"note": "test"})
    out.save(tmp_path / "p.npz")
    back = palettes.PaletteSet.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.colors, out.colors)
    assert back.ref(0) == refs[0] and back.ref(1) == refs[1]
    assert back.meta["palette"]["k"] == K and back.meta["note"] == "test"
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a palette file"):
        palettes.PaletteSet.load(tmp_path / "bad.npz")


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / name)
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(folder / "grey.png")
    return folder


def test_grey_scale_images_are_refused_or_listed(image_folder):
    with pytest.raises(ValueError, match=r"grey\.png: grey-scale image"):
        palettes.folder_refs(image_folder, 4, seed=0, skip_greyscale=False)
    seen = set()
    for seed in range(6):  # the seeded order decides whether grey.png comes up before 3 others
        refs, skipped = palettes.folder_refs(image_folder, 3, seed=seed, skip_greyscale=True)
        assert sorted(r.name for r in refs) == ["a.png", "b.png", "c.png"]
        seen.update(skipped)
    assert seen == {"grey.png"}
    with pytest.raises(ValueError, match="only 3 colour images.*n_images to at most 3"):
        palettes.folder_refs(image_folder, 4, seed=0, skip_greyscale=True)
    equal = np.repeat(np.arange(16, dtype=np.uint8).reshape(4, 4, 1), 3, axis=2)
    with pytest.raises(ValueError, match="three channels are equal"):
        palettes.rgb_array(equal, "flat.png")


def test_tiny_unreadable_and_flat_images_are_refused_by_name(image_folder, tmp_path):
    settings = palettes.PaletteSettings(k=128, sample_pixels=4096, seed=0)
    tiny = palettes.to_lab(np.random.default_rng(0).integers(0, 256, (10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match=r"tiny\.png: 100 pixels, fewer than .* k = 128"):
        palettes.palette(tiny, settings, 0, "tiny.png")
    few = palettes.to_lab(blocks_image(np.eye(3) * 255, [100, 100, 100]))
    with pytest.raises(ValueError, match=r"bands\.png: only 3 distinct colours"):
        palettes.palette(few, settings, 0, "bands.png")
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match=r"cannot decode image 'broken\.jpg'"):
        palettes.folder_refs(image_folder, 4, seed=0, skip_greyscale=True)
    archive = tmp_path / "val2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(image_folder / "a.png", "val2017/a.png")
    with pytest.raises(ValueError, match="cannot read image 'val2017/missing.png'"):
        palettes.load_pixels(str(archive), palettes.ImageRef("val2017/missing.png", None, 0))
    assert palettes.load_pixels(
        str(archive), palettes.ImageRef("val2017/a.png", None, 0)
    ).shape == (20, 20, 3)


def test_settings_errors_name_the_key(palette_set):
    _, _, groups = palette_set
    with pytest.raises(ValueError, match="warmstart.palette.sample_pixels"):
        palettes.PaletteSettings(k=128, sample_pixels=64)
    with pytest.raises(ValueError, match="warmstart.skimage.photos: unknown photo 'moon'"):
        palettes.skimage_photo("moon")
    with pytest.raises(ValueError, match="warmstart.split.test_fraction"):
        experiment.split_groups(groups, 1.0, 0)
    with pytest.raises(ValueError, match="at least 2 photos"):
        experiment.split_groups(np.zeros(5, int), 0.5, 0)
    with pytest.raises(ValueError, match=r"warmstart.skimage.test_pairs = 99 exceeds the 12"):
        experiment.ordered_pairs(np.arange(4), 99, 0, "warmstart.skimage.test_pairs")
    with pytest.raises(ValueError, match="must include cold"):
        initializers.check_names(["learned"])
    with pytest.raises(ValueError, match="'sorting' is not available.*1-D"):
        initializers.check_names(["cold", "sorting"])


def test_coco_source_reads_a_zip_skips_grey_images_and_names_pair_keys(image_folder, tmp_path):
    archive = tmp_path / "val2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(image_folder.iterdir()):
            zf.write(path, f"val2017/{path.name}")
    cfg = {
        "source": "coco",
        "coco": {"n_images": 3, "seed": 1, "skip_greyscale": True, "train_pairs": 2,
                 "test_pairs": 50},
        "palette": {"k": K, "sample_pixels": 200, "seed": 0},
        "split": {"test_fraction": 0.4, "seed": 0},
    }
    steps.extract_palettes(cfg, str(archive), tmp_path / "palettes.npz")
    out = palettes.PaletteSet.load(tmp_path / "palettes.npz")
    assert out.source == str(archive) and out.colors.shape == (3, K, 3)
    assert set(out.names) <= {"val2017/a.png", "val2017/b.png", "val2017/c.png"}
    assert list(out.groups) == [0, 1, 2] and set(out.meta["skipped_greyscale"]) <= {"val2017/grey.png"}
    assert out.meta["settings"]["coco"]["n_images"] == 3 and out.meta["versions"]["scikit-image"]
    with pytest.raises(ValueError, match="warmstart.coco.test_pairs: its side .* fewer than 2"):
        steps.split_pairs(out, cfg)


# ----------------------------------------------------------------------------- split


def test_split_is_by_photo_and_pairs_stay_on_their_side(palette_set):
    _, _, groups = palette_set
    train, test = experiment.split_groups(groups, 0.25, seed=0)
    assert set(groups[train]).isdisjoint(groups[test]) and len(set(groups[test])) == 1
    assert len(train) + len(test) == len(groups)
    pairs = experiment.ordered_pairs(test, None, 0, "test_pairs")
    assert len(pairs) == 4 * 3 and np.isin(pairs, test).all() and (pairs[:, 0] != pairs[:, 1]).all()
    again = experiment.split_groups(groups, 0.25, seed=0)
    np.testing.assert_array_equal(again[1], test)


# ----------------------------------------------------------------------------- model


def test_learned_model_improves_the_dual_objective(palette_set, trained):
    colors, masses, _ = palette_set
    params, net, training, losses, train_pairs, _ = trained
    before = model.initial_params(net, training)
    start = model.mean_objective(before, net, colors, masses, train_pairs, EPS)
    end = model.mean_objective(params, net, colors, masses, train_pairs, EPS)
    assert end > start + 0.05 * abs(start), (start, end)
    assert losses[-10:].mean() < losses[:10].mean()
    # Weak duality: the semi-dual never exceeds the entropic OT cost Sinkhorn converges to.
    inits = {"cold": initializers.make_initializer("cold", None, {})}
    rows, _, _ = experiment.evaluate(colors, masses, train_pairs[:3], inits, SINKHORN, 0)
    values = model.pair_objectives(params, net, colors, masses, train_pairs[:3], EPS)
    for value, row in zip(values, rows):
        assert value <= row["final_dual"] + 1e-3 * abs(row["final_dual"])


def test_model_file_round_trip_and_corrupt_file(trained, tmp_path):
    params, net, *_ = trained
    model.save_model(tmp_path / "m.npz", params, net, {"seed": 0})
    back, back_net, meta = model.load_model(tmp_path / "m.npz")
    assert back_net == net and meta == {"seed": 0}
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz: not a model file"):
        model.load_model(tmp_path / "bad.npz")


def test_every_initializer_converges_to_the_cold_start_cost(palette_set, trained):
    colors, masses, _ = palette_set
    params, net, *_, test_pairs = trained
    inits = {
        name: initializers.make_initializer(
            name, initializers.InitializerSettings(subsample_points=4),
            SINKHORN.solver_kwargs(), (params, net),
        )
        for name in initializers.INITIALIZERS
    }
    rows, final, compile_seconds = experiment.evaluate(
        colors, masses, test_pairs, inits, SINKHORN, seed=0
    )
    table = pd.DataFrame(rows)
    assert len(table) == len(test_pairs) * 4 and table["converged"].all()
    assert (table["iterations"] % SINKHORN.inner_iterations == 0).all()
    cold = table[table["initializer"] == "cold"].set_index("pair")["reg_ot_cost"]
    for name, group in table.groupby("initializer"):
        diff = (group.set_index("pair")["reg_ot_cost"] - cold).abs() / cold.abs()
        assert diff.max() < SINKHORN.threshold, (name, diff.max())
    assert final["f"].shape == (len(test_pairs), 4, K)
    assert set(compile_seconds) == {"sinkhorn", *initializers.INITIALIZERS}
    assert (table["seconds"] > 0).all()


# ----------------------------------------------------------------------------- workflow

TINY = {
    "run": ["warmstart"],
    "warmstart": {
        "skimage": {"photos": ["astronaut", "chelsea", "coffee"], "tiles": 2,
                    "train_pairs": 24, "test_pairs": 6},
        "palette": {"k": 16, "sample_pixels": 256},
        "split": {"test_fraction": 0.3},
        "sinkhorn": {"epsilon": 1.0},
        "initializers": ["cold", "learned"],  # ott's own are covered by the tests above
        "model": {"hidden": 8, "steps": 10, "batch_pairs": 4},
        "transfer_figure": {"pairs": 2},
    },
}


@pytest.mark.slow
def test_study_runs_end_to_end(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    configs = ("--configfile", str(ROOT / "config" / "config.yaml"), "tiny.yaml")
    result = run_snakemake(*configs, "--cores", "2", "--resources", "gpu=0", workdir=tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    report = run_snakemake(*configs, "--report", "report.html", workdir=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "warmstart_transfer.png" in html and "barycentric map" in html
    results = tmp_path / "results"
    for path in ("figures/warmstart_iterations.png", "figures/warmstart_iterations.pdf",
                 "figures/warmstart_transfer.png", "tables/warmstart.md",
                 "warmstart/model.npz", "warmstart/split.json"):
        assert (results / path).stat().st_size > 0, path
    csv = results / "tables" / "warmstart.csv"
    meta = json.loads(csv.read_text().splitlines()[0].removeprefix("# provenance: "))
    assert meta["settings"]["palette"]["k"] == 16 and meta["versions"]["ott-jax"] == "0.6.0"
    table = pd.read_csv(csv, comment="#")
    ours = table[table["source"] == "ours"]
    assert list(ours["initializer"]) == ["cold", "learned"]
    assert (ours["pairs"] == 6).all() and ours["same_cost"].all()
    assert (table[table["source"] == "reference"]["median"] == [3031, 2976]).all()
    split = json.loads((results / "warmstart" / "split.json").read_text())
    photos = {name for i, name in enumerate(split["names"]) if i in split["test_images"]}
    assert photos.isdisjoint(split["names"][i] for i in split["train_images"])
    assert "| learned | ours | 6 |" in (results / "tables" / "warmstart.md").read_text()
