"""The workflow steps of the warm-start study, one function per rule. Each takes only the
settings its rule is given (a part of the ``warmstart`` section) and file paths, and writes
its outputs atomically with their provenance (settings, seeds, versions, git commit); a
step's provenance also carries the settings recorded by the steps before it."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd

from hiref import provenance
from hiref.studies.warmstart import palettes, report

# experiment, initializers, sinkhorn and the models (ott-jax, optax) are imported by the
# steps that solve or train, so that the table and figure jobs start without them.

#: Arrays of the potentials file written by :func:`evaluate`.
POTENTIAL_KEYS = ("f", "g", "pairs", "initializers")


def _fields(cls, section: dict) -> dict:
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in section.items() if key in names}


def network_configs(module, section: dict):
    """(ModelConfig, TrainConfig) of a model module from its config section."""
    return (module.ModelConfig(**_fields(module.ModelConfig, section)),
            module.TrainConfig(**_fields(module.TrainConfig, section)))


def sinkhorn_settings(problem: dict):
    """The :class:`~hiref.studies.warmstart.sinkhorn.SinkhornSettings` of a problem section."""
    from hiref.studies.warmstart import sinkhorn

    return sinkhorn.SinkhornSettings(**_fields(sinkhorn.SinkhornSettings, problem))


def extract_palettes(cfg: dict, images: str | None, out: str) -> None:
    """Rule extract_palettes: palettes of the configured images (``source``, ``bundled`` or
    ``coco``, ``palette``)."""
    settings = palettes.PaletteSettings(**cfg["palette"])
    skipped = []
    if cfg["source"] == palettes.BUNDLED:
        source = palettes.BUNDLED
        refs = palettes.bundled_refs(cfg["bundled"]["photos"], cfg["bundled"]["tiles"])
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
    """Train and test images (split by source photo) and their ordered pairs, each in a
    seeded random order (``source``, its section's pair counts, ``split``)."""
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


def split(cfg: dict, palettes_path: str, out: str) -> None:
    """Rule split_warmstart: the split by photo and the pairs of each side."""
    palette_set = palettes.PaletteSet.load(palettes_path)
    pairs = split_pairs(palette_set, cfg)
    groups = {side: sorted(set(palette_set.groups[pairs[f"{side}_images"]].tolist()))
              for side in ("train", "test")}
    provenance.write_json(out, {
        **{key: value.tolist() for key, value in pairs.items()},
        "names": palette_set.names.tolist(), "groups": groups,
        **report.study_provenance({**palette_set.meta["settings"], **cfg}, uses_jax=False),
    })
    print(f"photos: train {groups['train']}, test {groups['test']}; pairs: "
          f"{len(pairs['train_pairs'])} train, {len(pairs['test_pairs'])} test")


def _load_split(path: str, palette_set: palettes.PaletteSet) -> dict:
    try:
        with open(path) as fh:
            data = json.load(fh)
        for key in ("train_pairs", "test_pairs"):
            data[key] = np.asarray(data[key], dtype=np.int64).reshape(-1, 2)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a split file written by split_warmstart: {err}") from err
    if data["names"] != palette_set.names.tolist():
        raise ValueError(f"{path}: was made for other palettes; rerun split_warmstart")
    return data


def train_potential_model(cfg: dict, palettes_path: str, split_path: str, out: str) -> None:
    """Rule train_potential_model: our potential network, fitted on the training pairs at
    the problem's epsilon (``problem``, ``potential_model``)."""
    from hiref.studies.warmstart import potential_model, weights

    palette_set = palettes.PaletteSet.load(palettes_path)
    data = _load_split(split_path, palette_set)
    net, training = network_configs(potential_model, cfg["potential_model"])
    eps = cfg["problem"]["epsilon"]
    start = time.perf_counter()
    params, losses = potential_model.train(
        palette_set.colors, palette_set.masses, data["train_pairs"], net, training, eps
    )
    seconds = time.perf_counter() - start
    before = potential_model.initial_params(net, training)
    objective = {
        side: {
            label: potential_model.mean_objective(
                w, net, palette_set.colors, palette_set.masses, data[f"{side}_pairs"], eps
            )
            for label, w in (("initial", before), ("trained", params))
        }
        for side in ("train", "test")
    }
    meta = {
        **report.study_provenance({**data["settings"], **cfg}, uses_jax=True),
        "training": {"seconds": seconds, "loss": losses.tolist(), "objective": objective},
    }
    weights.save(out, params, net, meta)
    print(f"trained in {seconds:.1f} s; mean semi-dual objective {objective}")


def train_plan_model(cfg: dict, palettes_path: str, split_path: str, out: str) -> None:
    """Rule train_plan_model: the reference's P0 network, fitted on converged plans of the
    first ``label_pairs`` training pairs at the problem's settings (``problem``,
    ``plan_model``)."""
    from hiref.studies.warmstart import plan_model, weights

    palette_set = palettes.PaletteSet.load(palettes_path)
    data = _load_split(split_path, palette_set)
    section = cfg["plan_model"]
    net, training = network_configs(plan_model, section)
    labels = dataclasses.replace(
        sinkhorn_settings(cfg["problem"]), max_iterations=section["label_max_iterations"]
    )
    pairs = data["train_pairs"][: section["label_pairs"]]
    start = time.perf_counter()
    plans, iterations, converged = plan_model.converged_plans(
        palette_set.colors, palette_set.masses, pairs, labels
    )
    label_seconds = time.perf_counter() - start
    print(f"{len(pairs)} label plans in {label_seconds:.1f} s, {int((~converged).sum())} capped "
          f"at {labels.max_iterations}", flush=True)
    start = time.perf_counter()
    params, losses = plan_model.train(
        palette_set.colors, palette_set.masses, pairs, plans, net, training
    )
    seconds = time.perf_counter() - start
    before = plan_model.initial_params(net, training)
    loss = {label: plan_model.mean_loss(w, net, palette_set.colors, palette_set.masses, pairs,
                                        plans)
            for label, w in (("initial", before), ("trained", params))}
    meta = {
        **report.study_provenance({**data["settings"], **cfg}, uses_jax=True),
        "labels": {"pairs": len(pairs), "seconds": label_seconds,
                   "iterations": iterations.tolist(), "capped": int((~converged).sum())},
        "training": {"seconds": seconds, "loss": losses.tolist(), "mean_loss": loss},
    }
    weights.save(out, params, net, meta)
    print(f"trained in {seconds:.1f} s; mean KL loss on its pairs {loss}")


def load_network(name: str, path: str):
    """(weights, network size, meta) of a learned initializer's model file."""
    from hiref.studies.warmstart import plan_model, potential_model, weights

    module = potential_model if name == "learned_potentials" else plan_model
    return weights.load(path, module.ModelConfig, module.init_params,
                        f"a {name} model written by its training rule")


def evaluate(cfg: dict, palettes_path: str, split_path: str, models: dict, out: str,
             potentials: str) -> None:
    """Rule evaluate_warmstart: Sinkhorn from every initializer on the first
    ``test_pairs`` held-out pairs of one problem (``name``, ``problem``, ``initializers``,
    ``subsample``); ``models``: {learned initializer: model file}."""
    from hiref.studies.warmstart import experiment, initializers

    names = list(cfg["initializers"])
    initializers.check_names(names)
    palette_set = palettes.PaletteSet.load(palettes_path)
    data = _load_split(split_path, palette_set)
    problem = cfg["problem"]
    settings = sinkhorn_settings(problem)
    pairs = data["test_pairs"][: problem["test_pairs"]]
    upstream = dict(data["settings"])
    inits = {}
    for name in names:
        network = None
        if name in initializers.LEARNED:
            *network, meta = load_network(name, models[name])
            upstream[name] = {key: meta["settings"][key] for key in meta["settings"]
                              if key.endswith("_model")}
        inits[name] = initializers.make_initializer(
            name, initializers.InitializerSettings(cfg["subsample"]["points"]), network
        )
    rows, final, compile_seconds = experiment.evaluate(
        palette_set.colors, palette_set.masses, pairs, inits, settings, cfg["subsample"]["seed"],
    )
    provenance.write_json(out, {
        **report.study_provenance({**upstream, **cfg}, uses_jax=True),
        "problem": cfg["name"],
        "test_photos": len(data["groups"]["test"]),
        "train_pairs": len(data["train_pairs"]),
        "test_pairs": len(pairs),
        "compile_seconds": compile_seconds,
        "peak_rss_mb": provenance.peak_rss_mb(),
        "rows": rows,
    })
    with provenance.atomic_path(potentials) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, f=final["f"], g=final["g"], pairs=pairs, initializers=np.asarray(names))


def _load_evaluation(path: str) -> tuple[dict, pd.DataFrame]:
    try:
        with open(path) as fh:
            data = json.load(fh)
        rows = pd.DataFrame(data["rows"])
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not an evaluation written by evaluate_warmstart: {err}") from err
    return data, rows


def _table_meta(evaluations: dict[str, dict], bootstrap: dict | None = None) -> dict:
    """Provenance of the table and figures: each problem's settings and counts, versions,
    git commit and device of the evaluations."""
    problems = {}
    for name, data in evaluations.items():
        problems[name] = {
            **data["settings"]["problem"],
            "sinkhorn": dataclasses.asdict(sinkhorn_settings(data["settings"]["problem"])),
            "test_pairs_used": data["test_pairs"], "train_pairs_used": data["train_pairs"],
            "test_photos": data["test_photos"],
            "sinkhorn_compile_seconds": data["compile_seconds"]["sinkhorn"],
            "upstream": {k: v for k, v in data["settings"].items() if k != "problem"},
        }
    first = next(iter(evaluations.values()))
    meta = {key: first[key] for key in ("versions", "git_commit", "device")}
    return meta | {"problems": problems, "bootstrap": bootstrap}


def gather(cfg: dict, evaluations: dict[str, str], csv: str, markdown: str) -> None:
    """Rule gather_warmstart: the table of every problem (CSV and Markdown), paired
    comparisons with the cold start, the reference's numbers in the ``reference.problem``
    section (``bootstrap``, ``reference``)."""
    loaded = {name: _load_evaluation(path) for name, path in evaluations.items()}
    parts = [
        report.summarise(rows, name, data["settings"]["problem"], data["compile_seconds"],
                         cfg["bootstrap"])
        for name, (data, rows) in loaded.items()
    ]
    table = pd.concat(parts, ignore_index=True)
    reference = cfg["reference"]
    if reference["problem"] in loaded:
        table = report.with_reference(table, reference["iterations"], reference["problem"])
        order = {name: i for i, name in enumerate(loaded)}
        table = table.sort_values("problem", key=lambda s: s.map(order), kind="stable",
                                  ignore_index=True)
    meta = _table_meta({name: data for name, (data, _) in loaded.items()}, cfg["bootstrap"])
    with provenance.atomic_path(csv) as tmp, open(tmp, "w") as fh:
        fh.write(f"# provenance: {json.dumps(meta, sort_keys=True)}\n")
        table.to_csv(fh, index=False)
    with provenance.atomic_path(markdown) as tmp:
        tmp.write_text(report.to_markdown(table, meta, reference["label"]))


def plot_iterations(evaluations: dict[str, str], paths: list[str]) -> None:
    """Rule plot_warmstart_iterations: iterations and paired ratios of every problem."""
    loaded = {name: _load_evaluation(path) for name, path in evaluations.items()}
    caps = {name: sinkhorn_settings(data["settings"]["problem"]).max_iterations
            for name, (data, _) in loaded.items()}
    meta = _table_meta({name: data for name, (data, _) in loaded.items()})
    with provenance.atomic_path(paths[0]) as png, provenance.atomic_path(paths[1]) as pdf:
        report.plot_iterations({name: rows for name, (_, rows) in loaded.items()}, caps,
                               [png, pdf], meta)


def plot_transfer(
    cfg: dict, palettes_path: str, evaluation: str, potentials: str, out: str
) -> None:
    """Rule plot_warmstart_transfer: image A recoloured with B's palette, cold and warm
    (``transfer_figure``)."""
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
    eps = data["settings"]["problem"]["epsilon"]
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
        report.plot_transfer(panels, [png], _table_meta({data["problem"]: data}))


def _figure_pairs(pairs: np.ndarray, groups: np.ndarray, count: int) -> list[int]:
    """The first ``count`` pairs whose images come from different photos (else any)."""
    across = [p for p, (i, j) in enumerate(pairs) if groups[i] != groups[j]]
    rest = [p for p in range(len(pairs)) if p not in set(across)]
    return (across + rest)[:count]
