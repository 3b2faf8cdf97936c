"""The workflow steps of the warm-start study, one function per rule; each takes the
validated ``warmstart`` configuration section and file paths, and writes its outputs
atomically with their provenance (settings, seeds, versions, git commit)."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd

from hiref import provenance
from hiref.studies.warmstart import palettes, report

# experiment, initializers and model (ott-jax, optax) are imported by the steps that solve
# or train, so that the table and figure jobs start without them.

#: Arrays of the potentials file written by :func:`evaluate`.
POTENTIAL_KEYS = ("f", "g", "pairs", "initializers")


def _fields(cls, section: dict) -> dict:
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in section.items() if key in names}


def model_configs(cfg: dict):
    """(ModelConfig, TrainConfig) of the ``model`` section."""
    from hiref.studies.warmstart import model

    section = cfg["model"]
    return model.ModelConfig(**_fields(model.ModelConfig, section)), model.TrainConfig(
        **_fields(model.TrainConfig, section)
    )


def extract_palettes(cfg: dict, images: str | None, out: str) -> None:
    """Rule extract_palettes: palettes of the configured image source."""
    settings = palettes.PaletteSettings(**cfg["palette"])
    skipped = []
    if cfg["source"] == palettes.SKIMAGE:
        source = palettes.SKIMAGE
        refs = palettes.skimage_refs(cfg["skimage"]["photos"], cfg["skimage"]["tiles"])
    else:
        source = str(images)
        coco = cfg["coco"]
        refs, skipped = palettes.folder_refs(
            source, coco["n_images"], coco["seed"], coco["skip_greyscale"]
        )
        for name in skipped:
            print(f"skipped grey-scale image {name}", flush=True)
    meta = {**report.study_provenance(cfg, uses_jax=False), "skipped_greyscale": skipped}
    start = time.perf_counter()
    out_set = palettes.extract(source, refs, settings, meta)
    out_set.meta["seconds"] = time.perf_counter() - start
    out_set.save(out)
    print(f"{len(refs)} palettes of k = {settings.k} in {out_set.meta['seconds']:.1f} s")


def split_pairs(palette_set: palettes.PaletteSet, cfg: dict) -> dict:
    """Train and test images (split by source photo) and their ordered pairs."""
    from hiref.studies.warmstart import experiment

    split = cfg["split"]
    counts = cfg[cfg["source"]]
    train, test = experiment.split_groups(palette_set.groups, split["test_fraction"], split["seed"])
    key = f"warmstart.{cfg['source']}"
    return {
        "train_images": train, "test_images": test,
        "train_pairs": experiment.ordered_pairs(
            train, counts["train_pairs"], split["seed"], f"{key}.train_pairs"
        ),
        "test_pairs": experiment.ordered_pairs(
            test, counts["test_pairs"], split["seed"] + 1, f"{key}.test_pairs"
        ),
    }


def train(cfg: dict, palettes_path: str, model_out: str, split_out: str) -> None:
    """Rule train_warmstart: the split, and the learned initializer fitted on train pairs."""
    from hiref.studies.warmstart import model

    palette_set = palettes.PaletteSet.load(palettes_path)
    split = split_pairs(palette_set, cfg)
    net, training = model_configs(cfg)
    eps = cfg["sinkhorn"]["epsilon"]
    start = time.perf_counter()
    params, losses = model.train(
        palette_set.colors, palette_set.masses, split["train_pairs"], net, training, eps
    )
    seconds = time.perf_counter() - start
    before = model.initial_params(net, training)
    objective = {
        side: {
            label: model.mean_objective(
                weights, net, palette_set.colors, palette_set.masses, split[f"{side}_pairs"], eps
            )
            for label, weights in (("initial", before), ("trained", params))
        }
        for side in ("train", "test")
    }
    meta = {
        **report.study_provenance(cfg, uses_jax=True),
        "training": {"seconds": seconds, "loss": losses.tolist(), "objective": objective},
        "groups": {"train": sorted(set(palette_set.groups[split["train_images"]].tolist())),
                   "test": sorted(set(palette_set.groups[split["test_images"]].tolist()))},
    }
    model.save_model(model_out, params, net, meta)
    provenance.write_json(split_out, {
        **{key: value.tolist() for key, value in split.items()},
        "names": palette_set.names.tolist(),
        **report.study_provenance(cfg, uses_jax=False),
    })
    print(f"trained in {seconds:.1f} s; mean semi-dual objective {objective}")


def _load_split(path: str, palette_set: palettes.PaletteSet) -> dict:
    try:
        with open(path) as fh:
            split = json.load(fh)
        pairs = np.asarray(split["test_pairs"], dtype=np.int64).reshape(-1, 2)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a split file written by train_warmstart: {err}") from err
    if split["names"] != palette_set.names.tolist():
        raise ValueError(f"{path}: was made for other palettes; rerun train_warmstart")
    return {**split, "test_pairs": pairs}


def evaluate(
    cfg: dict, palettes_path: str, model_path: str, split_path: str, out: str, potentials: str
) -> None:
    """Rule evaluate_warmstart: Sinkhorn from every initializer on the held-out pairs."""
    from hiref.studies.warmstart import experiment, initializers, model

    names = list(cfg["initializers"])
    initializers.check_names(names)
    palette_set = palettes.PaletteSet.load(palettes_path)
    split = _load_split(split_path, palette_set)
    params, net, _ = model.load_model(model_path)
    sink = experiment.SinkhornSettings(**cfg["sinkhorn"])
    init_settings = initializers.InitializerSettings(cfg["subsample"]["points"])
    inits = {
        name: initializers.make_initializer(
            name, init_settings, sink.solver_kwargs(), (params, net)
        )
        for name in names
    }
    rows, final, compile_seconds = experiment.evaluate(
        palette_set.colors, palette_set.masses, split["test_pairs"], inits, sink,
        cfg["subsample"]["seed"],
    )
    provenance.write_json(out, {
        **report.study_provenance(cfg, uses_jax=True),
        "test_photos": len(set(palette_set.groups[split["test_images"]].tolist())),
        "train_pairs": len(split["train_pairs"]),
        "test_pairs": len(split["test_pairs"]),
        "compile_seconds": compile_seconds,
        "peak_rss_mb": provenance.peak_rss_mb(),
        "rows": rows,
    })
    with provenance.atomic_path(potentials) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, f=final["f"], g=final["g"], pairs=split["test_pairs"],
                 initializers=np.asarray(names))


def _load_evaluation(path: str) -> tuple[dict, pd.DataFrame]:
    try:
        with open(path) as fh:
            data = json.load(fh)
        rows = pd.DataFrame(data["rows"])
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not an evaluation written by evaluate_warmstart: {err}") from err
    return data, rows


def _table_meta(data: dict) -> dict:
    settings = dict(data["settings"])
    settings["test_pairs_used"] = data["test_pairs"]
    settings["train_pairs_used"] = data["train_pairs"]
    settings["test_photos"] = data["test_photos"]
    settings["sinkhorn_compile_seconds"] = data["compile_seconds"]["sinkhorn"]
    return {key: data[key] for key in ("versions", "git_commit", "device")} | {"settings": settings}


def gather(cfg: dict, evaluation: str, csv: str, markdown: str) -> None:
    """Rule gather_warmstart: the summary table (CSV and Markdown), reference beside ours."""
    data, rows = _load_evaluation(evaluation)
    table = report.summarise(rows, cfg["sinkhorn"]["threshold"], data["compile_seconds"])
    table = report.with_reference(table, cfg["reference"]["iterations"])
    meta = _table_meta(data)
    with provenance.atomic_path(csv) as tmp, open(tmp, "w") as fh:
        fh.write(f"# provenance: {json.dumps(meta, sort_keys=True)}\n")
        table.to_csv(fh, index=False)
    with provenance.atomic_path(markdown) as tmp:
        tmp.write_text(report.to_markdown(table, meta, cfg["reference"]["label"]))


def plot_iterations(cfg: dict, evaluation: str, paths: list[str]) -> None:
    """Rule plot_warmstart_iterations: histogram of iterations per initializer."""
    data, rows = _load_evaluation(evaluation)
    with provenance.atomic_path(paths[0]) as png, provenance.atomic_path(paths[1]) as pdf:
        sink = cfg["sinkhorn"]
        report.plot_iterations(rows, sink["max_iterations"], sink["inner_iterations"],
                               [png, pdf], _table_meta(data))


def plot_transfer(
    cfg: dict, palettes_path: str, evaluation: str, potentials: str, out: str
) -> None:
    """Rule plot_warmstart_transfer: image A recoloured with B's palette, cold and warm."""
    palette_set = palettes.PaletteSet.load(palettes_path)
    data, rows = _load_evaluation(evaluation)
    final = palettes.read_arrays(
        potentials, POTENTIAL_KEYS, "a potentials file written by evaluate_warmstart"
    )
    names = final["initializers"].tolist()
    warm = cfg["transfer_figure"]["warm"]
    if warm not in names:
        raise ValueError(
            f"warmstart.transfer_figure.warm: {warm!r} was not evaluated; choose one of "
            + ", ".join(names)
        )
    shown = [names.index("cold"), names.index(warm)]
    eps = cfg["sinkhorn"]["epsilon"]
    panels = []
    for p in _figure_pairs(final["pairs"], palette_set.groups, cfg["transfer_figure"]["pairs"]):
        i, j = final["pairs"][p]
        rgb = palettes.load_pixels(palette_set.source, palette_set.ref(i))
        lab = palettes.to_lab(rgb)
        recoloured = {}
        for q in shown:
            its = rows[(rows["pair"] == p) & (rows["initializer"] == names[q])]["iterations"]
            targets = report.barycentric_colors(
                final["f"][p, q], final["g"][p, q], palette_set.colors[i],
                palette_set.colors[j], eps,
            )
            recolour = report.recolour(lab, palette_set.colors[i], targets)
            label = f"{names[q]} start: {int(its.iloc[0])} iterations"
            recoloured[label] = palettes.lab_to_rgb(recolour.reshape(rgb.shape))
        panels.append({
            "a": rgb,
            "b": palettes.load_pixels(palette_set.source, palette_set.ref(j)),
            "titles": (f"A: {palette_set.ref(i).label}", f"B: {palette_set.ref(j).label}"),
            "recoloured": recoloured,
        })
    with provenance.atomic_path(out) as png:
        report.plot_transfer(panels, [png], _table_meta(data))


def _figure_pairs(pairs: np.ndarray, groups: np.ndarray, count: int) -> list[int]:
    """The first ``count`` pairs whose images come from different photos (else any)."""
    across = [p for p, (i, j) in enumerate(pairs) if groups[i] != groups[j]]
    rest = [p for p in range(len(pairs)) if p not in set(across)]
    return (across + rest)[:count]
