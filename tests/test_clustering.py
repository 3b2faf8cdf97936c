"""Imbalanced clustering: the P²OT solver against a generic solver of its objective and its
marginals, SeLa's balanced marginals, accuracy floors on toys whose answer is known, the
authors' model selection and class groups, the metrics on hand-made cases, the datasets
(CIFAR-100 on a fixture archive) and bad input."""

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
from scipy.optimize import minimize

from hiref.studies.clustering import datasets, heads, metrics
from hiref.studies.clustering.methods import Settings, run_method, solver_summary
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


def p2ot_objective_minimiser(log_p, rho, epsilon, kl_weight):
    """The P²OT plan by a generic solver (SciPy SLSQP on log Q, float64) of the objective
    the scaling algorithm minimises (hiref.studies.clustering.p2ot's docstring):
    <Q, C> + eps sum Q (log Q - 1) + lam sum_k KL(q_k | rho / K), rows 1/N, virtual column
    1 - rho; returns the (N, K) real-cluster part."""
    n, k = log_p.shape
    cost = np.concatenate([-log_p, np.zeros((n, 1))], 1)
    beta = rho / k

    def plan(z):
        return np.exp(z.reshape(n, k + 1))

    def objective(z):
        q_all = plan(z)
        q = q_all[:, :k].sum(0)
        value = ((q_all * cost).sum() + epsilon * (q_all * (np.log(q_all) - 1)).sum()
                 + kl_weight * (q * np.log(q / beta) - q + beta).sum())
        grad = cost + epsilon * np.log(q_all)
        grad[:, :k] += kl_weight * np.log(q / beta)[None, :]
        return value, (q_all * grad).ravel()

    rows = np.kron(np.eye(n), np.ones(k + 1))  # (n, n (k + 1)): row sums of the flat plan
    virtual = np.tile(np.eye(k + 1)[k], n)[None, :]
    constraints = [
        {"type": "eq", "fun": lambda z: rows @ plan(z).ravel() - 1 / n,
         "jac": lambda z: rows * plan(z).ravel()[None, :]},
        {"type": "eq", "fun": lambda z: virtual @ plan(z).ravel() - (1 - rho),
         "jac": lambda z: virtual * plan(z).ravel()[None, :]},
    ]
    start = np.full(n * (k + 1), np.log(1 / (n * (k + 1))))
    result = minimize(objective, start, jac=True, constraints=constraints, method="SLSQP",
                      options={"ftol": 1e-15, "maxiter": 2000})
    assert result.success, result.message
    return plan(result.x)[:, :k]


def test_p2ot_plan_is_the_minimiser_of_its_objective(rho=0.6, kl_weight=1.0):
    """Oracle: the scaling algorithm's plan equals a generic solver's minimiser of the stated
    objective (a wrong damping exponent or column marginal moves it by percents)."""
    log_p = np.asarray(log_probs(seed=4, scale=2.0, n=6, k=3), np.float64)
    config = P2OTConfig(epsilon=0.3, kl_weight=kl_weight, threshold=1e-7, max_iterations=100000)
    out = p2ot_jit(jnp.asarray(log_p, jnp.float32), rho, config)
    expected = p2ot_objective_minimiser(log_p, rho, 0.3, kl_weight)
    assert bool(out.converged)
    np.testing.assert_allclose(np.asarray(out.plan), expected, rtol=1e-4, atol=1e-7)


def test_p2ot_converges_well_before_its_cap_at_the_first_epochs_rho():
    """The authors' settings (lam 1, eps 0.1, threshold 1e-5, cap 1000) at the first
    labelling's rho (about 0.1), where the scaling is slowest, converge with room to spare
    (about 660 iterations): a capped solve would be flagged in the records and the table.
    The KL target's scale rho / K is what makes it so: a target of 1 / K has the same
    minimiser (the total mass rho is fixed by the constraints) but a fixed point further
    from the zero start, and needs about 50 % more iterations, past the cap."""
    log_p, _ = imbalanced_log_probs()
    config = P2OTConfig()
    out = p2ot_jit(log_p, float(rho_at(0.0, config)), config)
    assert bool(out.converged) and int(out.iterations) < 0.8 * config.max_iterations


def test_p2ot_and_sela_report_a_capped_solve():
    log_p, _ = imbalanced_log_probs()
    capped = p2ot_jit(log_p, 0.5, P2OTConfig(max_iterations=3))
    assert int(capped.iterations) == 3 and not bool(capped.converged)
    assert bool(p2ot_jit(log_p, 0.5, P2OTConfig()).converged)
    sela = jax.jit(solve_sela, static_argnums=1)(log_p, SelaConfig(max_iterations=20))
    assert not bool(sela.converged)
    summary = solver_summary({"iterations": [5, 1000], "converged": [True, False]})
    assert summary == {"iterations": [5, 1000], "converged": [True, False], "capped": 1}
    assert solver_summary({"loss": [1.0]}) is None


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


def toy_features(sizes, seed=0):
    """Well-separated clusters of the given sizes: class c around the c-th unit vector of
    R^8 (noise 0.15), prepared as the study prepares features. The answer is known."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    x = np.eye(8)[y] + 0.15 * rng.normal(size=(len(y), 8))
    return datasets.normalise_features(x), y


TOY_SETTINGS = {"training": {"epochs": 15, "batch_size": 64}}


def accuracies(method, sizes, seeds):
    x, y = toy_features(sizes)
    runs = run_method(method, x, y, seeds, Settings.from_config(TOY_SETTINGS))
    return np.array([metrics.clustering_scores(y, run["pred"])["acc"] for run in runs])


def test_balanced_toy_is_solved_by_sela_and_p2ot():
    for method in ("sela", "p2ot"):
        acc = accuracies(method, [50, 50, 50, 50], [0, 1])
        assert (acc >= 0.99).all(), (method, acc)


def test_imbalanced_toy_p2ot_finds_the_clusters_balanced_ot_splits_them():
    sizes = [120, 60, 30, 15]
    p2ot, sela = accuracies("p2ot", sizes, [0, 1]), accuracies("sela", sizes, [0, 1])
    # Equal-size clusters cannot hold a class of 120 of 225: balanced OT splits it.
    assert (sela <= 0.8).all(), sela
    assert p2ot.max() >= 0.99 and p2ot.mean() >= sela.mean() + 0.1, (p2ot, sela)


def test_loss_selection_returns_the_weights_of_the_lowest_loss_per_rho_epoch():
    """The labeler sees each epoch's starting weights (those the previous epoch left), so a
    digest of its log-probabilities identifies the weights train_head returns."""
    x, y = toy_features([30, 20, 10])
    x = jnp.asarray(x)
    head, train = heads.HeadConfig(), heads.TrainConfig(epochs=5, batch_size=16)
    one_hot = jax.nn.one_hot(jnp.asarray(y), 3)

    def labeler(log_p, progress):
        # rho large at progress 0.5 (epoch 2): its loss / rho is the lowest.
        rho = jnp.where(jnp.abs(progress - 0.5) < 1e-6, 1e3, 1.0)
        return one_hot, {"rho": rho, "digest": jnp.sum(log_p * one_hot)}

    params = heads.init_head(jax.random.key(0), 8, 3, head)
    for selection, expected in (("loss", 2), ("last", 4)):
        best, history = jax.jit(heads.train_head, static_argnums=(2, 4, 5, 6))(
            x, params, labeler, jax.random.key(1), head, train, selection)
        assert np.flatnonzero(history["selected"]).tolist() == [expected]
        if expected + 1 < train.epochs:  # the next epoch's labelling saw these weights
            digest = jnp.sum(jax.nn.log_softmax(heads.apply_head(best, x, head)) * one_hot)
            assert float(digest) == pytest.approx(float(history["digest"][expected + 1]),
                                                  rel=1e-6)
    with pytest.raises(ValueError, match="model_selection"):
        heads.train_head(x, params, labeler, jax.random.key(1), head, train, "best")


def test_authors_groups_are_30_40_30_percent_of_the_classes_by_size():
    sizes = np.arange(100, 0, -1)  # 100 classes, class 0 the largest
    groups = metrics.size_groups(sizes, "authors")
    assert [len(g) for g in groups.values()] == [30, 40, 30]
    assert groups["head"].tolist() == list(range(30)) and groups["tail"][-1] == 99
    # K = 11: int(3.3), int(4.4), int(3.3); the class between medium and tail in no group.
    eleven = metrics.size_groups(np.arange(11, 0, -1), "authors")
    assert [g.tolist() for g in eleven.values()] == [[0, 1, 2], [3, 4, 5, 6], [8, 9, 10]]
    # Ordered by size, not index: PBMC's classes are not numbered by size.
    shuffled = metrics.size_groups([5, 50, 9, 30, 1, 7, 8, 40, 2, 3], "authors")
    assert shuffled["head"].tolist() == [1, 7, 3] and shuffled["tail"].tolist() == [9, 8, 4]
    with pytest.raises(ValueError, match="evaluation.groups"):
        metrics.size_groups(sizes, "halves")


def test_metrics_on_a_hand_made_case():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([1, 1, 1, 0, 0, 0, 2, 2])
    # Cluster 1 -> class 0 (3 of 4), cluster 0 -> class 1 (2 of 2), cluster 2 -> class 2.
    np.testing.assert_array_equal(metrics.hungarian_match(y_true, y_pred), [1, 0, 2])
    np.testing.assert_allclose(metrics.class_accuracy(y_true, y_pred), [0.75, 1, 1])
    scores = metrics.clustering_scores(y_true, y_pred)
    assert scores["acc"] == pytest.approx(7 / 8)
    assert scores["macro_acc"] == pytest.approx((0.75 + 1 + 1) / 3)
    # Sizes 4, 2, 2: authors' groups of int(0.9) = 0, int(1.2) = 1 and 0 classes (NaN when
    # empty); thirds: one class each, ties by index.
    assert np.isnan([scores["acc_head"], scores["acc_tail"]]).all()
    assert scores["acc_medium"] == 0.75
    thirds = metrics.clustering_scores(y_true, y_pred, "thirds")
    assert (thirds["acc_head"], thirds["acc_medium"], thirds["acc_tail"]) == (0.75, 1, 1)
    perfect = metrics.clustering_scores(y_true, (y_true + 1) % 3)
    assert perfect["acc"] == perfect["nmi"] == pytest.approx(1.0)
    assert perfect["ari"] == pytest.approx(1.0)


def test_metrics_with_more_clusters_than_classes_and_size_thirds():
    y_true = np.array([0, 0, 1, 1])
    scores = metrics.clustering_scores(y_true, np.array([0, 1, 2, 3]))
    assert scores["acc"] == pytest.approx(0.5)
    groups = metrics.size_groups([1, 50, 0, 7, 30, 2, 9], "thirds")
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
             "compile_seconds": 2.0, "solves": 50, "capped": capped,
             **{score: acc for score in report.SCORES}}
            for m, acc, capped in (("p2ot", 0.4, 0), ("sela", 0.6, 3)) for s in (0, 1)]
    table = report.summarise(pd.DataFrame(rows), {"d": {"p2ot": {"acc": 38.2}}})
    assert list(table["method"]) == ["sela", "p2ot"]  # the study's order
    assert table.set_index("method").at["sela", "capped"] == 6
    provenance = {"seeds": [0, 1], "git_commit": ["abc"], "versions": {}, "params": {},
                  "evaluation": {"groups": "authors", "model_selection": "loss"}}
    text = report.to_markdown(table, provenance)
    assert "| d         | p2ot (published) |" in text and "38.2" in text
    assert "P²OT does not beat balanced OT (SeLa) on mean ACC (ACC −20.0 pt" in text
    assert "| 60.0 ± 0.0 " in text and "| 6 / 100 " in text and "first 30 %" in text
