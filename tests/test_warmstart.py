"""Warm-start study: palettes, split, our Sinkhorn against ott-jax's, oracle starts through
both learned initializers, the two networks, Sinkhorn from every initializer, the paired
statistics, bad input, and one small end-to-end run of the study's rules."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SESSION_ENV, background_run, run_snakemake
from ott.solvers.linear import sinkhorn as ott_sinkhorn
from PIL import Image
from scipy.special import xlogy
from skimage.color import rgb2lab

from hiref.studies.warmstart import (
    experiment,
    initializers,
    palettes,
    plan_model,
    potential_model,
    report,
    sinkhorn,
    steps,
    weights,
)

K = 8
EPS = 0.5
SINKHORN = sinkhorn.SinkhornSettings(epsilon=EPS, threshold=1e-3, max_iterations=5000)
#: The reference's stopping rule, checked after every iteration.
SCALING = sinkhorn.SinkhornSettings(epsilon=EPS, stopping="scaling", threshold=1e-4,
                                    max_iterations=5000, check_every=1)


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
    """Both networks, briefly trained on the training pairs of a split by source group."""
    colors, masses, groups = palette_set
    train, test = experiment.split_groups(groups, 0.25, seed=0)
    train_pairs = experiment.ordered_pairs(train, None, 0, "train_pairs")
    test_pairs = experiment.ordered_pairs(test, 4, 1, "test_pairs")
    net = potential_model.ModelConfig(hidden=16)
    training = potential_model.TrainConfig(learning_rate=3e-3, steps=60, batch_pairs=8, seed=0)
    params, losses = potential_model.train(colors, masses, train_pairs, net, training, EPS)
    plans, _, converged = plan_model.converged_plans(colors, masses, train_pairs[:12], SCALING)
    plan_net = plan_model.ModelConfig(hidden=8, heads=2)
    plan_training = plan_model.TrainConfig(steps=30, batch_pairs=4)
    plan_params, plan_losses = plan_model.train(colors, masses, train_pairs[:12], plans,
                                                plan_net, plan_training)
    return {"potentials": (params, net), "plan": (plan_params, plan_net), "losses": losses,
            "plan_losses": plan_losses, "training": training, "plans": plans,
            "plans_converged": converged, "train_pairs": train_pairs, "test_pairs": test_pairs,
            "plan_training": plan_training}


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


def test_bundled_tiles_cover_each_photo_and_keep_their_photo_as_group():
    refs = palettes.bundled_refs(["chelsea", "coffee"], tiles=2)
    assert [r.group for r in refs] == [0] * 4 + [1] * 4
    boxes = [r.box for r in refs[:4]]
    assert boxes[0][0] == 0 and boxes[-1][1] == 300 and boxes[-1][3] == 451  # chelsea 300x451
    assert sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in boxes) == 300 * 451
    pixels = palettes.load_pixels(palettes.BUNDLED, refs[5])
    assert pixels.shape == (200, 300, 3) and pixels.dtype == np.uint8  # coffee is 400x600
    # scikit-learn's and matplotlib's photographs are read the same way.
    assert palettes.bundled_photo("china").shape == (427, 640, 3)
    assert palettes.bundled_photo("grace_hopper").shape == (600, 512, 3)


def test_palette_set_round_trip_and_corrupt_file(tmp_path):
    refs = [palettes.ImageRef("chelsea", (0, 60, 0, 60), 0), palettes.ImageRef("coffee", None, 1)]
    settings = palettes.PaletteSettings(k=K, sample_pixels=200, seed=0)
    out = palettes.extract(palettes.BUNDLED, refs, settings, {"note": "test"})
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
    with pytest.raises(ValueError, match="warmstart.bundled.photos: unknown photo 'moon'"):
        palettes.bundled_photo("moon")
    with pytest.raises(ValueError, match="warmstart.split.test_fraction"):
        experiment.split_groups(groups, 1.0, 0)
    with pytest.raises(ValueError, match="at least 2 photos"):
        experiment.split_groups(np.zeros(5, int), 0.5, 0)
    with pytest.raises(ValueError, match=r"warmstart.bundled.test_pairs = 99 exceeds the 12"):
        experiment.ordered_pairs(np.arange(4), 99, 0, "warmstart.bundled.test_pairs")
    with pytest.raises(ValueError, match="must include cold"):
        initializers.check_names(["learned_plan"])
    with pytest.raises(ValueError, match="multiple of check_every"):
        sinkhorn.SinkhornSettings(max_iterations=105, check_every=10)
    with pytest.raises(ValueError, match="stopping must be one of"):
        sinkhorn.SinkhornSettings(stopping="cost")
    with pytest.raises(ValueError, match="heads must divide hidden"):
        plan_model.ModelConfig(hidden=10, heads=4)
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


# ----------------------------------------------------------------------------- Sinkhorn


def pair_args(palette_set, i=0, j=5):
    colors, masses, _ = palette_set
    return (jnp.asarray(colors[i]), jnp.asarray(masses[i]), jnp.asarray(colors[j]),
            jnp.asarray(masses[j]))


def test_marginal_rule_matches_ott_sinkhorn_update_for_update(palette_set):
    """Same iteration count (ott checks every 10 iterations too) and entropic cost as
    ott-jax's Sinkhorn on the same problem."""
    solve = jax.jit(sinkhorn.solve, static_argnums=4)
    for i, j in ((0, 5), (3, 12), (9, 14)):
        x, a, y, b = pair_args(palette_set, i, j)
        ours = solve(sinkhorn.euclidean_cost(x, y), a, b, jnp.zeros_like(a), SINKHORN)
        ott = ott_sinkhorn.Sinkhorn(threshold=1e-3, max_iterations=5000)(
            experiment.palette_problem(x, a, y, b, EPS))
        assert int(ours.iterations) == int(ott.n_iters) and bool(ours.converged)
        cost = sinkhorn.reg_ot_cost(ours.f, ours.g, a, b, sinkhorn.euclidean_cost(x, y), EPS)
        assert float(cost) == pytest.approx(float(ott.reg_ot_cost), rel=1e-5)


def converged(palette_set, epsilon=EPS, i=0, j=5):
    """Potentials converged ten times below the study's thresholds (ott convention; float32
    resolves changes of the log-scaling down to about 4e-6 here)."""
    x, a, y, b = pair_args(palette_set, i, j)
    cost = sinkhorn.euclidean_cost(x, y)
    tight = sinkhorn.SinkhornSettings(epsilon=epsilon, stopping="scaling", threshold=1e-5,
                                      max_iterations=20000, check_every=1)
    out = sinkhorn.solve(cost, a, b, jnp.zeros_like(a), tight)
    assert bool(out.converged)
    return out, cost


#: An epsilon at which every entry of the test pair's plan exceeds plan_model.PLAN_FLOOR,
#: so the reference's conversion of P0 into a start is exact (see the P0 oracle test).
WIDE_EPS = 20.0


@pytest.mark.parametrize("rule", ["marginal", "scaling"])
def test_oracle_starts_converge_at_the_first_check(palette_set, trained, monkeypatch, rule):
    """Learned initializers whose networks predict the converged solution exactly: ours (the
    mass-weighted potential, converted to ott's convention) and the reference's (the
    converged plan's rows, turned into a start as the reference did) start Sinkhorn at the
    solution, so the first check stops it. So does a start offset by 100 CIELAB units (the
    centring). The P0 oracle runs where no plan entry falls below the reference's 1e-12
    floor: below it, its conversion is not exact (docs/warmstart.md measures by how much)."""
    colors, masses, _ = palette_set
    _, a, _, b = pair_args(palette_set)
    checks = {"marginal": SINKHORN, "scaling": SCALING}[rule]
    cases = {"learned_potentials": ("potentials", EPS), "learned_plan": ("plan", WIDE_EPS)}
    for name, (network, eps) in cases.items():
        settings = dataclasses.replace(checks, epsilon=eps)
        out, cost = converged(palette_set, eps)
        oracle_f = out.f - eps * jnp.log(a)  # the mass-weighted converged potential
        rows = sinkhorn.plan(out.f, out.g, cost, eps)
        assert name != "learned_plan" or float(rows.min()) > plan_model.PLAN_FLOOR
        oracle_rows = rows / rows.sum(1, keepdims=True)
        monkeypatch.setattr(potential_model, "predict_f", lambda *_, f=oracle_f: f)
        monkeypatch.setattr(plan_model, "predict_rows", lambda *_, r=oracle_rows: r)
        init = initializers.make_initializer(name, None, trained[network])
        table, _, _ = experiment.evaluate(colors, masses, np.array([[0, 5]]), {name: init},
                                          settings, 0)
        assert table[0]["iterations"] == settings.check_every, name
        far = jax.jit(sinkhorn.solve, static_argnums=4)(cost, a, b, out.f + 100.0, settings)
        assert int(far.iterations) == settings.check_every


def test_plan_start_recovers_the_potential_of_an_exact_plan(palette_set):
    """P0 = the converged plan: log P0 + C / eps is exactly log u_i + log v_j, so the
    reference's ten rounds of alternating means give f = eps log u up to a constant; at the
    study's epsilon the 1e-12 floor under P0 breaks this."""
    _, a, _, _ = pair_args(palette_set)
    for eps, exact in ((WIDE_EPS, True), (EPS, False)):
        out, cost = converged(palette_set, eps)
        rows = sinkhorn.plan(out.f, out.g, cost, eps)
        start = plan_model.plan_start(rows / rows.sum(1, keepdims=True), a, cost, eps)
        shift = np.asarray(start - out.f)
        assert np.allclose(shift, shift.mean(), atol=1e-3 * eps) == exact, eps


# ----------------------------------------------------------------------------- networks


def test_potential_model_improves_the_dual_objective(palette_set, trained):
    colors, masses, _ = palette_set
    params, net = trained["potentials"]
    before = potential_model.initial_params(net, trained["training"])
    pairs = trained["train_pairs"]
    start = potential_model.mean_objective(before, net, colors, masses, pairs, EPS)
    end = potential_model.mean_objective(params, net, colors, masses, pairs, EPS)
    assert end > start + 0.05 * abs(start), (start, end)
    losses = trained["losses"]
    assert losses[-10:].mean() < losses[:10].mean()
    # Weak duality: the semi-dual never exceeds the entropic OT cost Sinkhorn converges to.
    inits = {"cold": initializers.make_initializer("cold", None)}
    rows, _, _ = experiment.evaluate(colors, masses, pairs[:3], inits, SINKHORN, 0)
    values = potential_model.pair_objectives(params, net, colors, masses, pairs[:3], EPS)
    for value, row in zip(values, rows):
        assert value <= row["final_dual"] + 1e-3 * abs(row["final_dual"])


def test_plan_model_is_the_reference_network_and_loss(palette_set, trained):
    params, net = trained["plan"]
    x, a, y, b = pair_args(palette_set)
    rows = plan_model.predict_rows(params, net, x, a, y, b)
    assert rows.shape == (K, K) and np.allclose(np.asarray(rows).sum(1), 1, atol=1e-5)
    # The loss is PyTorch's KLDivLoss (0 log 0 = 0) of the target's normalised rows to the
    # prediction, for one pair.
    target = np.asarray(trained["plans"][0], np.float64)
    t = target / (target.sum(1, keepdims=True) + plan_model.LOSS_FLOOR)
    expected = np.sum(xlogy(t, t) - t * np.log(np.asarray(rows, np.float64)
                                               + plan_model.LOSS_FLOOR))
    loss = plan_model.pair_loss(params, net, x, a, y, b, jnp.asarray(target, jnp.float32))
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    losses = trained["plan_losses"]
    assert losses[-5:].mean() < losses[:5].mean()


def test_model_files_round_trip_and_corrupt_file(trained, tmp_path):
    for name, module in (("potentials", potential_model), ("plan", plan_model)):
        params, net = trained[name]
        weights.save(tmp_path / "m.npz", params, net, {"seed": 0})
        back, back_net, meta = weights.load(tmp_path / "m.npz", module.ModelConfig,
                                            module.init_params, "a model")
        assert back_net == net and meta == {"seed": 0}
        for p, q in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back)):
            np.testing.assert_array_equal(np.asarray(p), np.asarray(q))
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz: not a model"):
        weights.load(tmp_path / "bad.npz", plan_model.ModelConfig, plan_model.init_params,
                     "a model")


def test_every_initializer_converges_to_the_cold_start_cost(palette_set, trained):
    colors, masses, _ = palette_set
    networks = {"learned_potentials": trained["potentials"], "learned_plan": trained["plan"]}
    inits = {
        name: initializers.make_initializer(
            name, initializers.InitializerSettings(subsample_points=4), networks.get(name))
        for name in initializers.INITIALIZERS
    }
    test_pairs = trained["test_pairs"]
    rows, final, compile_seconds = experiment.evaluate(
        colors, masses, test_pairs, inits, SINKHORN, seed=0
    )
    table = pd.DataFrame(rows)
    assert len(table) == len(test_pairs) * 5 and table["converged"].all()
    assert (table["iterations"] % SINKHORN.check_every == 0).all()
    summary = report.summarise(table, "p", {"same_cost_tolerance": 1e-3}, compile_seconds,
                               {"resamples": 200, "seed": 0})
    assert summary["same_cost"].all() and (summary["cost_pairs"] == len(test_pairs)).all()
    assert final["f"].shape == (len(test_pairs), 5, K)
    assert set(compile_seconds) == {"sinkhorn", *initializers.INITIALIZERS}
    assert (table["seconds"] > 0).all()


def fake_evaluation(path, problem: str, stopping: str, iterations: list[int]) -> str:
    """An evaluation file as evaluate_warmstart writes it: a cold and a warm start."""
    n = len(iterations) // 2
    rows = [{"pair": p % n, "initializer": name, "iterations": its, "converged": True,
             "reg_ot_cost": 10.0, "primal_cost": 9.0, "initial_dual": 5.0, "final_dual": 10.0,
             "seconds": 0.01, "init_seconds": 0.001}
            for p, (name, its) in enumerate(zip(["cold"] * n + ["warm"] * n, iterations))]
    settings = {"problem": {"epsilon": 0.1, "stopping": stopping, "threshold": 1e-4,
                            "check_every": 1, "max_iterations": 100, "test_pairs": n,
                            "same_cost_tolerance": 1e-3}}
    steps.provenance.write_json(path, {
        **report.study_provenance(settings, uses_jax=False), "problem": problem,
        "test_photos": 2, "train_pairs": 6, "test_pairs": n,
        "compile_seconds": {"sinkhorn": 1.0, "cold": 0.1, "warm": 0.1}, "rows": rows})
    return str(path)


def test_table_has_a_section_per_problem_and_the_reference_in_its_own(tmp_path):
    evaluations = {
        "ott": fake_evaluation(tmp_path / "a.json", "ott", "marginal", [10, 20, 5, 20]),
        "reference": fake_evaluation(tmp_path / "b.json", "reference", "scaling",
                                     [100, 40, 50, 20]),
    }
    cfg = {"bootstrap": {"resamples": 50, "seed": 0},
           "reference": {"problem": "reference", "label": "the reference",
                         "iterations": {"reference: cold": [1, 2, 3, 4, 5]}}}
    steps.gather(cfg, evaluations, tmp_path / "t.csv", tmp_path / "t.md")
    table = pd.read_csv(tmp_path / "t.csv", comment="#")
    assert table["problem"].tolist() == ["ott", "ott", "reference", "reference", "reference"]
    assert table["source"].tolist() == ["ours"] * 4 + ["reference"]
    warm = table[table["initializer"] == "warm"].set_index("problem")
    assert warm.at["ott", "ratio_median"] == 0.75 and warm.at["reference", "ratio_median"] == 0.5
    text = (tmp_path / "t.md").read_text()
    assert text.index("## Problem `ott`") < text.index("## Problem `reference`")
    assert text.index("## Problem `reference`") < text.index("| reference: cold | the reference")


def test_paired_statistics_on_a_hand_made_case():
    # Four pairs; the warm start's ratios to cold: 0.5, 0.5, 1, 4.
    rows = pd.DataFrame({
        "pair": [0, 1, 2, 3] * 2, "initializer": ["cold"] * 4 + ["warm"] * 4,
        "iterations": [100, 200, 50, 10, 50, 100, 50, 40],
    })
    ratios = report.paired_ratios(rows)
    assert ratios["ratio"].tolist() == [0.5, 0.5, 1.0, 4.0]
    out = report.paired_summary(ratios["ratio"], resamples=500, seed=0)
    assert (out["faster"], out["slower"], out["ratio_worst"]) == (0.5, 0.25, 4.0)
    assert out["ratio_median"] == 0.75 and out["ratio_low"] <= 0.75 <= out["ratio_high"]
    assert out == report.paired_summary(ratios["ratio"], resamples=500, seed=0)  # seeded
    assert report.batch_maxima(np.arange(20)).tolist() == [7, 15]  # the last 4 dropped


# ----------------------------------------------------------------------------- workflow

#: The warm-start section of the end-to-end run; it replaces the default section whole.
TINY = {
    "run": ["warmstart"],
    "warmstart": {
        "bundled": {"photos": ["astronaut", "chelsea", "china"], "tiles": 2,
                    "train_pairs": 24, "test_pairs": None},
        "palette": {"k": 16, "sample_pixels": 256},
        "split": {"test_fraction": 0.3},
        # One problem (the reference's stopping rule); several are the unit tests' case.
        "problems": {"reference": {"epsilon": 0.5, "stopping": "scaling", "threshold": 1e-4,
                                   "check_every": 1, "test_pairs": 8}},
        # ott's own initializers are covered by the tests above.
        "initializers": ["cold", "learned_potentials", "learned_plan"],
        "potential_model": {"hidden": 8, "steps": 10, "batch_pairs": 4},
        "plan_model": {"hidden": 8, "heads": 2, "steps": 10, "batch_pairs": 4,
                       "label_pairs": 6},
        "bootstrap": {"resamples": 100},
        "transfer_figure": {"problem": "reference", "pairs": 2},
    },
}


@background_run
def study_run(work):
    """The tiny study run and its report (in the background: tests/conftest.py)."""
    # The whole configuration in one file: a second configfile would merge `problems` with
    # the default problems instead of replacing them.
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text()) | TINY
    (work / "tiny.yaml").write_text(yaml.safe_dump(config))
    configs = ("--configfile", "tiny.yaml")
    result = run_snakemake(*configs, "--cores", "2", "--resources", "gpu=0", workdir=work,
                           environ=SESSION_ENV)
    report_run = run_snakemake(*configs, "--report", "report.html", workdir=work,
                               environ=SESSION_ENV)
    return work, result, report_run


@pytest.mark.slow
def test_study_runs_end_to_end(study_run):
    tmp_path, result, report_run = study_run
    assert result.returncode == 0, result.stderr[-5000:]
    assert report_run.returncode == 0, report_run.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "warmstart_transfer.png" in html and "paired ratio" in html
    results = tmp_path / "results"
    csv = results / "tables" / "warmstart.csv"
    meta = json.loads(csv.read_text().splitlines()[0].removeprefix("# provenance: "))
    reference = meta["problems"]["reference"]
    assert list(meta["problems"]) == ["reference"] and reference["test_pairs_used"] == 8
    assert reference["sinkhorn"]["stopping"] == "scaling" and reference["sinkhorn"]["epsilon"] == 0.5
    assert reference["upstream"]["palette"]["k"] == 16 and meta["versions"]["ott-jax"] == "0.6.0"
    table = pd.read_csv(csv, comment="#")
    ours = table[table["source"] == "ours"]
    assert ours["initializer"].tolist() == ["cold", "learned_potentials", "learned_plan"]
    assert (ours["pairs"] == 8).all() and ours["same_cost"].all()
    warm = ours[ours["initializer"] != "cold"]
    assert ((warm["ratio_low"] <= warm["ratio_median"])
            & (warm["ratio_median"] <= warm["ratio_high"])).all()
    assert table[table["source"] == "reference"]["median"].tolist() == [3031, 2976]
    split = json.loads((results / "warmstart" / "split.json").read_text())
    photos = {name for i, name in enumerate(split["names"]) if i in split["test_images"]}
    assert photos.isdisjoint(split["names"][i] for i in split["train_images"])
    markdown = (results / "tables" / "warmstart.md").read_text()
    assert "## Problem `reference`" in markdown and "| learned_plan | ours | 8 |" in markdown
    assert "largest change of the log-scaling" in markdown
    model = weights.load(results / "warmstart" / "reference" / "plan_model.npz",
                         plan_model.ModelConfig, plan_model.init_params, "a plan model")
    assert model[2]["labels"]["pairs"] == 6
