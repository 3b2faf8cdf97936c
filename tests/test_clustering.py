"""Imbalanced clustering: the P²OT solver's marginals, SeLa's balanced marginals, the
metrics on hand-made cases, the datasets (CIFAR-100 on a fixture archive) and bad input."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from hiref.studies.clustering import datasets, metrics
from hiref.studies.clustering.methods import Settings, run_method
from hiref.studies.clustering.p2ot import P2OTConfig, rho_at, solve_p2ot
from hiref.studies.clustering.pseudolabels import SelaConfig, solve_sela

N, K = 300, 6


def log_probs(seed=0, scale=3.0, n=N, k=K):
    logits = np.random.default_rng(seed).normal(size=(n, k)) * scale
    return jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))


def imbalanced_log_probs(n=N, k=K, seed=0):
    """Samples that clearly prefer their class; class c holds a share ~ 2^-c of them."""
    rng = np.random.default_rng(seed)
    share = 0.5 ** np.arange(k)
    y = rng.choice(k, size=n, p=share / share.sum())
    logits = 4.0 * np.eye(k)[y] + rng.normal(scale=0.3, size=(n, k))
    return jax.nn.log_softmax(jnp.asarray(logits, jnp.float32)), y


p2ot_jit = jax.jit(solve_p2ot, static_argnums=2)


@pytest.mark.parametrize("rho", [0.1, 0.5, 1.0])
def test_p2ot_moves_mass_rho_and_at_most_one_nth_per_sample(rho):
    config = P2OTConfig(threshold=1e-6, max_iterations=3000)
    out = p2ot_jit(log_probs(), rho, config)
    plan, virtual = np.asarray(out.plan, np.float64), np.asarray(out.virtual, np.float64)
    assert plan.shape == (N, K) and (plan >= 0).all()
    assert plan.sum() == pytest.approx(rho, abs=1e-4)
    assert virtual.sum() == pytest.approx(1 - rho, abs=1e-4)
    # Rows are exact after the final row update: real + virtual mass = 1/N for every sample.
    np.testing.assert_allclose(plan.sum(1) + virtual, 1 / N, rtol=1e-4)
    assert (plan.sum(1) <= 1 / N * (1 + 1e-5)).all()
    assert int(out.iterations) < config.max_iterations


def test_p2ot_moves_confident_samples_first():
    # Half the samples are sure of their cluster (spread over all K), half undecided.
    confident = jnp.where(np.eye(K, dtype=bool)[np.arange(N // 2) % K], 0.0, -20.0)
    uncertain = jnp.full((N // 2, K), -jnp.log(K))
    out = p2ot_jit(jnp.concatenate([confident, uncertain]), 0.3, P2OTConfig())
    mass = np.asarray(out.plan).sum(1)
    assert mass[: N // 2].sum() > 0.95 * 0.3


def test_p2ot_cluster_marginal_follows_the_kl_weight():
    log_p, y = imbalanced_log_probs()
    true_share = np.bincount(y, minlength=K) / N
    loose = np.asarray(p2ot_jit(log_p, 1.0, P2OTConfig(kl_weight=0.01)).plan).sum(0)
    tight = np.asarray(p2ot_jit(log_p, 1.0, P2OTConfig(kl_weight=1e4)).plan).sum(0)
    # A weak KL penalty keeps the clusters as imbalanced as the predictions...
    np.testing.assert_allclose(loose, true_share, atol=0.03)
    # ...a strong one pulls them to the uniform marginal rho / K (balanced OT).
    np.testing.assert_allclose(tight, 1 / K, atol=0.01)
    assert loose.max() / loose.min() > 5 * tight.max() / tight.min()


def test_rho_schedules():
    config = P2OTConfig(rho_base=0.1, rho_upper=0.9)
    t = jnp.linspace(0, 1, 11)
    sigmoid = np.asarray(rho_at(t, config))
    assert sigmoid[0] == pytest.approx(0.1 + 0.8 * np.exp(-5), abs=1e-6)
    assert sigmoid[-1] == pytest.approx(0.9) and (np.diff(sigmoid) > 0).all()
    linear = rho_at(0.5, P2OTConfig(rho_base=0.1, rho_upper=0.9, rho_schedule="linear"))
    assert float(linear) == pytest.approx(0.5)
    assert float(rho_at(1.0, P2OTConfig(rho_schedule="fixed"))) == pytest.approx(0.1)


@pytest.mark.parametrize("change, key", [
    ({"rho_base": 0.0}, "p2ot.rho_base"), ({"rho_upper": 1.5}, "p2ot.rho_upper"),
    ({"rho_base": 0.6, "rho_upper": 0.5}, "p2ot.rho_upper"),
    ({"rho_schedule": "cosine"}, "p2ot.rho_schedule"), ({"epsilon": -1.0}, "p2ot.epsilon"),
    ({"max_iterations": 0}, "p2ot.max_iterations"),
])
def test_bad_p2ot_settings_name_the_key(change, key):
    with pytest.raises(ValueError, match=key):
        P2OTConfig(**change)


def test_sela_marginals_are_balanced_even_on_imbalanced_predictions():
    log_p, _ = imbalanced_log_probs()
    config = SelaConfig(threshold=1e-5, max_iterations=5000)
    out = jax.jit(solve_sela, static_argnums=1)(log_p, config)
    plan = np.asarray(out.plan, np.float64)
    assert float(out.error) < config.threshold
    np.testing.assert_allclose(plan.sum(0), 1 / K, atol=2e-5)
    np.testing.assert_allclose(plan.sum(1), 1 / N, rtol=1e-3)


def test_metrics_on_a_hand_made_case():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([1, 1, 1, 0, 0, 0, 2, 2])
    # Cluster 1 -> class 0 (3 of 4), cluster 0 -> class 1 (2 of 2), cluster 2 -> class 2.
    np.testing.assert_array_equal(metrics.hungarian_match(y_true, y_pred), [1, 0, 2])
    np.testing.assert_allclose(metrics.class_accuracy(y_true, y_pred), [0.75, 1, 1])
    scores = metrics.clustering_scores(y_true, y_pred)
    assert scores["acc"] == pytest.approx(7 / 8)
    assert scores["macro_acc"] == pytest.approx((0.75 + 1 + 1) / 3)
    # Sizes 4, 2, 2: one class per third, ties by index.
    assert (scores["acc_head"], scores["acc_medium"], scores["acc_tail"]) == (0.75, 1, 1)
    perfect = metrics.clustering_scores(y_true, (y_true + 1) % 3)
    assert perfect["acc"] == perfect["nmi"] == pytest.approx(1.0)
    assert perfect["ari"] == pytest.approx(1.0)


def test_metrics_with_more_clusters_than_classes_and_size_thirds():
    y_true = np.array([0, 0, 1, 1])
    scores = metrics.clustering_scores(y_true, np.array([0, 1, 2, 3]))
    assert scores["acc"] == pytest.approx(0.5)
    groups = metrics.size_groups([1, 50, 0, 7, 30, 2, 9])
    assert [g.tolist() for g in groups.values()] == [[1, 4], [6, 3], [5, 0]]


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([1, 1, 1], [0, 1, 2], "single class"),
    ([0, 1, 1], [0, 1], "entries"),
    ([0.0, 1.0], [0, 1], "integer"),
    ([0, -1], [0, 1], "non-negative"),
])
def test_metrics_refuse_bad_labels(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.clustering_scores(np.asarray(y_true), np.asarray(y_pred))


def test_long_tailed_profile_and_subset():
    counts = datasets.long_tailed_counts(10, 174, 0.1)
    assert counts[0] == 174 and counts[-1] == 17 and (np.diff(counts) <= 0).all()
    np.testing.assert_array_equal(datasets.long_tailed_counts(3, 20, 1.0), [20, 20, 20])
    labels = np.repeat(np.arange(4), 30)
    a = datasets.long_tailed_subset(labels, 0.1, seed=3)
    np.testing.assert_array_equal(a, datasets.long_tailed_subset(labels, 0.1, seed=3))
    np.testing.assert_array_equal(np.bincount(labels[a]), [30, 13, 6, 3])


@pytest.mark.parametrize("ratio", [0, -0.5, 1.5, True, "0.1"])
def test_imbalance_ratio_outside_0_1_is_refused_naming_the_key(ratio):
    with pytest.raises(ValueError, match=r"imbalanced_clustering.data.digits_lt.imbalance_ratio"):
        datasets.digits_lt(ratio, seed=0)


def test_digits_lt_is_long_tailed_and_prepared_features_are_unit_rows(tmp_path):
    data = datasets.digits_lt(0.1, seed=0)
    sizes = np.bincount(data["labels"])
    assert sizes[0] == 174 and sizes[-1] == 17 and sizes.sum() == 707
    path = tmp_path / "digits_lt.npz"
    datasets.save_prepared(path, data)
    prepared = datasets.load_prepared(path)
    np.testing.assert_allclose(np.linalg.norm(prepared["features"], axis=1), 1, atol=1e-5)
    assert prepared["meta"]["class_sizes"] == sizes.tolist()
    assert prepared["meta"]["imbalance_ratio"] == 0.1


def test_single_class_dataset_and_corrupt_file_are_refused(tmp_path):
    one_class = {"features": np.ones((5, 2)), "labels": np.zeros(5, np.int64),
                 "class_names": ["a"], "meta": {}}
    with pytest.raises(ValueError, match="single class"):
        datasets.save_prepared(tmp_path / "one.npz", one_class)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="bad.npz"):
        datasets.load_prepared(bad)


def write_cifar_fixture(path, n_classes=4, per_class=6, seed=0):
    """A cifar-100-python.tar.gz in the real layout with random images; returns its rows."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class).tolist()
    train = {"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
             "fine_labels": labels, "coarse_labels": labels}
    meta = {"fine_label_names": [f"class{c}" for c in range(n_classes)]}
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in (("train", train), ("meta", meta)):
            blob = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return train["data"]


def test_cifar100_lt_from_a_fixture_archive(tmp_path):
    archive = tmp_path / "cifar-100-python.tar.gz"
    data = write_cifar_fixture(archive)
    cifar = datasets.read_cifar100(archive)
    assert cifar["images"].shape == (24, 32, 32, 3)
    # Channel-planar rows -> (h, w, rgb): pixel (0, 1) of image 0 holds bytes 1, 1025, 2049.
    np.testing.assert_array_equal(cifar["images"][0, 0, 1], data[0, [1, 1025, 2049]])
    images, label_file = tmp_path / "images.zip", tmp_path / "labels.npz"
    datasets.extract_cifar100_lt(archive, ratio=0.5, seed=0, images=images, labels=label_file)
    with np.load(label_file) as saved:
        kept = saved["labels"]
    np.testing.assert_array_equal(np.bincount(kept), [6, 4, 3, 3])
    with zipfile.ZipFile(images) as zf:
        names = zf.namelist()
    assert names == [datasets.image_id(i) for i in range(len(kept))]
    # The embedding rule's output, rows in image order, joins the labels.
    embeddings = tmp_path / "embeddings.npz"
    np.savez(embeddings, embeddings=np.eye(len(kept), 8, dtype=np.float32),
             ids=np.asarray(names), meta=json.dumps({"model": "test"}))
    prepared = tmp_path / "cifar100_lt.npz"
    datasets.prepare("cifar100_lt", {}, {"embeddings": embeddings, "labels": label_file},
                     prepared)
    out = datasets.load_prepared(prepared)
    assert out["features"].shape == (16, 8) and out["meta"]["embedding"]["model"] == "test"
    np.savez(embeddings, embeddings=np.zeros((3, 8)), ids=np.asarray(names[:3]), meta="{}")
    with pytest.raises(ValueError, match="rebuild"):
        datasets.prepare("cifar100_lt", {}, {"embeddings": embeddings, "labels": label_file},
                         prepared)


def test_corrupt_or_foreign_cifar_archives_are_refused(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="broken.tar.gz"):
        datasets.read_cifar100(broken)
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as tar:
        blob = pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "fine_labels": [0],
                             "hook": print})
        info = tarfile.TarInfo("cifar-100-python/train")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(ValueError, match="unexpected object builtins.print"):
        datasets.read_cifar100(hostile)


def test_bad_study_settings_name_the_key():
    with pytest.raises(ValueError, match="head.init"):
        Settings.from_config({"head": {"kind": "mlp", "init": "kmeans"}})
    with pytest.raises(ValueError, match="training.epochs"):
        Settings.from_config({"training": {"epochs": 0}})
    with pytest.raises(ValueError, match="unknown method 'dbscan'"):
        run_method("dbscan", np.zeros((4, 2)), np.array([0, 0, 1, 1]), [0],
                   Settings.from_config({}))


def test_table_prints_published_rows_and_an_honest_verdict():
    from hiref.studies.clustering import report

    rows = [{"dataset": "d", "method": m, "seed": s, "n": 10, "k": 2, "seconds": 1.0,
             "compile_seconds": 2.0, **{score: acc for score in report.SCORES}}
            for m, acc in (("p2ot", 0.4), ("sela", 0.6)) for s in (0, 1)]
    table = report.summarise(pd.DataFrame(rows), {"d": {"p2ot": {"acc": 38.2}}})
    assert list(table["method"]) == ["sela", "p2ot"]  # the study's order
    provenance = {"seeds": [0, 1], "git_commit": ["abc"], "versions": {}, "params": {}}
    text = report.to_markdown(table, provenance)
    assert "| d         | p2ot (published) |" in text and "38.2" in text
    assert "P²OT does not beat balanced OT (SeLa) on mean ACC (ACC −20.0 pt" in text
