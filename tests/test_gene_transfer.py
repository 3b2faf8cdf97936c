"""Gene-expression transfer scores against the authors' formulas, written out independently,
on a toy MERFISH pair; and the published cosines beside ours."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from data_fixtures import toy_replicates
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from hiref.datasets.merfish import PAPER_GENES, pair_arrays, prepare_pair
from hiref.report.gene_transfer import (
    COSINES,
    OVERLAY_ALPHA_MIN,
    PAPER_FORMULA,
    Transport,
    bin_average,
    cosine,
    formulas_of,
    gene_transfer_scores,
    moved_expression,
    plan_inner_product,
    plot_transfer,
    read_transport,
    summarise_transfer,
    transfer_markdown,
)


@pytest.fixture(scope="module")
def joint(tmp_path_factory):
    source, target, _ = toy_replicates(tmp_path_factory.mktemp("merfish"))
    return prepare_pair(source, target, rotate_target_deg=45, seed=44)


def authors_minibatch(x, y, xs_hat, ys_hat, batch_size, seed):
    """The authors' minibatch_sinkhorn / sinkhorn_batch (p = 1): one permutation, ott
    Sinkhorn (jitted) with its default epsilon on Geometry(|x - y|), score
    B * sum_batches <x y^T, P>; returns it and the Transport that our runs would record."""
    import jax
    from ott.geometry.geometry import Geometry
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    @jax.jit
    def solve(cost_mat):
        geom = Geometry(cost_mat)
        out = sinkhorn.Sinkhorn()(linear_problem.LinearProblem(geom))
        return out.matrix, out.f, out.g, geom.epsilon

    perm = np.random.default_rng(seed).permutation(len(x))
    total, f, g, eps = 0.0, [], [], []
    for start in range(0, len(x), batch_size):
        idx = perm[start:start + batch_size]
        gamma, f_b, g_b, eps_b = solve(np.linalg.norm(x[idx][:, None] - y[idx][None], axis=-1))
        total += np.sum(xs_hat[idx][:, None] * ys_hat[idx][None, :] * np.asarray(gamma))
        f.append(np.asarray(f_b))
        g.append(np.asarray(g_b))
        eps.append(float(eps_b))
    transport = Transport("minibatch", batch_perm=perm, batch_size=batch_size,
                          f=np.concatenate(f), g=np.concatenate(g), epsilon=np.array(eps),
                          cost="euclidean")
    return batch_size * total, transport


@pytest.fixture(scope="module")
def authors_run(joint):
    """Unit vectors over the cells and the authors' mini-batch score of them (B = 32: three
    full batches and a smaller last one of 14)."""
    arrays = pair_arrays(joint)
    rng = np.random.default_rng(3)
    xs_hat, ys_hat = rng.uniform(size=110), rng.uniform(size=110)
    xs_hat, ys_hat = xs_hat / np.linalg.norm(xs_hat), ys_hat / np.linalg.norm(ys_hat)
    score, transport = authors_minibatch(arrays["x"], arrays["y"], xs_hat, ys_hat, 32, seed=0)
    return xs_hat, ys_hat, score, transport


def test_maps_move_expression_as_the_authors_assignment():
    values = np.array([10.0, 20.0, 30.0, 40.0])
    targets = np.array([2, 0, 2, 1])  # target 2 reached twice, target 3 never
    authors = np.zeros(4)
    authors[targets] = values[np.arange(4)]  # transferred_counts[target_indices] = ...
    np.testing.assert_array_equal(moved_expression(values, Transport("map", targets), 4), authors)
    np.testing.assert_array_equal(authors, [20, 40, 30, 0])
    perm = np.array([3, 0, 1, 2])
    moved = moved_expression(values, Transport("bijection", perm), 4)
    np.testing.assert_array_equal(moved[perm], values)


def test_bin_average_and_cosine():
    coords = np.array([[0.0, 0.0], [0.1, 0.1], [10.0, 10.0], [9.9, 10.0]])
    np.testing.assert_allclose(
        bin_average(np.array([1.0, 3.0, 5.0, 7.0]), coords, bins=2), [2, 2, 6, 6]
    )
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)


def test_minibatch_plan_score_is_the_authors_formula(joint, authors_run):
    arrays = pair_arrays(joint)
    xs_hat, ys_hat, expected, transport = authors_run
    assert len(transport.epsilon) == 4
    ours = plan_inner_product(xs_hat, ys_hat, transport, arrays["x"], arrays["y"])
    assert ours == pytest.approx(expected, rel=1e-4)
    # A map is one batch of n with P = 1/n.
    targets = np.random.default_rng(4).permutation(110)
    assert plan_inner_product(xs_hat, ys_hat, Transport("map", targets), arrays["x"],
                              arrays["y"]) == pytest.approx(xs_hat @ ys_hat[targets])


def test_scores_name_their_formula_and_a_good_matching_wins(joint, authors_run, tmp_path):
    arrays = pair_arrays(joint)
    _, cols = linear_sum_assignment(cdist(arrays["x"], arrays["y"]))
    good, smoothed = gene_transfer_scores(joint, Transport("bijection", cols), list(PAPER_GENES),
                                          bins=10)
    shuffled = np.random.default_rng(0).permutation(cols)
    bad, _ = gene_transfer_scores(joint, Transport("bijection", shuffled), list(PAPER_GENES),
                                  bins=10)
    assert set(good["definition"]) == set(COSINES) and (good["bins"] == 10).all()
    for definition in COSINES:
        mine = good[good["definition"] == definition]["cosine_similarity"]
        worse = bad[bad["definition"] == definition]["cosine_similarity"]
        assert mine.mean() > 0.8 and mine.mean() > worse.mean() + 0.05, definition
    plan, _ = gene_transfer_scores(joint, authors_run[3], ["Gad1"], bins=10)
    assert list(plan["definition"]) == ["plan_inner_product"]
    fig = plot_transfer(joint, smoothed, good, title="exact")
    fig.savefig(tmp_path / "transfer.png")
    assert (tmp_path / "transfer.png").stat().st_size > 10_000
    # Cells are rasterised (a vector PDF of 168k points was 20 MB) and the slices' overlay
    # stays visible whatever the number of cells.
    cells = [c for ax in fig.axes for c in ax.collections]
    assert cells and all(c.get_rasterized() for c in cells)
    overlay = fig.axes[0]
    assert min(c.get_alpha() for c in overlay.collections) >= OVERLAY_ALPHA_MIN
    assert all(h.get_alpha() == 1.0 for h in overlay.get_legend().legend_handles)
    with pytest.raises(ValueError, match=r"gene\(s\) \['Nope'\] are not in the MERFISH"):
        gene_transfer_scores(joint, Transport("bijection", cols), ["Gad1", "Nope"])


def test_read_transport_checks_what_the_file_holds(tmp_path):
    empty = np.zeros(0, np.int64)
    np.savez(tmp_path / "hiref.npz", perm=np.array([2, 0, 1]), map=empty)
    assert read_transport(tmp_path / "hiref.npz", 3, 3).kind == "bijection"
    np.savez(tmp_path / "frlc.npz", perm=empty, map=np.array([1, 1, 0]))
    assert list(read_transport(tmp_path / "frlc.npz", 3, 3).targets) == [1, 1, 0]
    np.savez(tmp_path / "mb.npz", perm=empty, map=empty, batch_perm=np.array([1, 0, 2]),
             batch_size=2, f=np.zeros(3, np.float32), g=np.zeros(3, np.float32),
             batch_epsilon=np.array([0.1, 0.2]), cost="euclidean")
    assert read_transport(tmp_path / "mb.npz", 3, 3).kind == "minibatch"
    with pytest.raises(ValueError, match="mb.npz: mini-batch plan .* does not fit the 4"):
        read_transport(tmp_path / "mb.npz", 4, 4)
    np.savez(tmp_path / "lot.npz", perm=empty, map=empty)
    with pytest.raises(ValueError, match="lot.npz: holds no matching, map or mini-batch plan"):
        read_transport(tmp_path / "lot.npz", 3, 3)
    with pytest.raises(ValueError, match="hiref.npz: bijection of 3 points .* full size"):
        read_transport(tmp_path / "hiref.npz", 4, 4)
    np.savez(tmp_path / "bad.npz", perm=np.array([1, 1, 0]))
    with pytest.raises(ValueError, match="bad.npz: 'perm' is not a bijection"):
        read_transport(tmp_path / "bad.npz", 3, 3)


def rows(method, cost, definition, value, stand_in=False):
    return [{"experiment": "merfish", "n": 84172, "method": method, "bins": 75,
             "definition": definition, "gene": gene, "cosine_similarity": value + k / 100,
             "targets_reached": 84172, "seed": 0, "cost": cost, "params": json.dumps({}),
             "stand_in": stand_in}
            for k, gene in enumerate(PAPER_GENES)]


def test_published_cosines_stand_beside_the_same_formula_only():
    scores = pd.DataFrame(
        rows("minibatch-64", "euclidean", "plan_inner_product", 0.6)
        + rows("minibatch-128", "sqeuclidean", "plan_inner_product", 0.6)
        + rows("hiref", "euclidean", "binned_transfer", 0.8)
    )
    summary = summarise_transfer(scores)
    paper = summary.set_index(["method", "gene"])["paper"]
    assert paper[("minibatch-64", "Slc17a7")] == pytest.approx(0.642)
    assert np.isnan(paper[("minibatch-128", "Slc17a7")])  # minimised another cost
    assert paper.loc["hiref"].isna().all()  # nothing published for this formula
    text = transfer_markdown(summary)
    assert "### binned_transfer" in text and "### plan_inner_product" in text
    assert re.search(r"\| minibatch-64 +\| 84172 \| paper +\| +\| 0\.642 ", text)
    assert not re.search(r"\| minibatch-128 +\| 84172 \| paper", text)
    assert "value for minibatch-128 withheld: the run minimised sqeuclidean" in text
    assert ("Methods scored by it here: hiref. The paper's formula for hiref." in text
            and "The paper's formula for minibatch." in text)


def test_no_published_cosine_stands_beside_a_stand_in_run():
    scores = pd.DataFrame(rows("minibatch-64", "euclidean", "plan_inner_product", 0.6,
                               stand_in=True))
    summary = summarise_transfer(scores)
    assert summary["paper"].isna().all() and summary["stand_in"].all()
    text = transfer_markdown(summary)
    assert text.startswith("**Stand-in data.**") and "| paper" not in text
    assert "0.642" not in text and "Paper rows appear" not in text


def test_transports_written_by_runs_are_scored(joint, tmp_path):
    """The .npz files that `solve_ot` writes for FRLC (argmax map) and the authors' mini-batch
    (plan) are read back and scored with their formulas."""
    from hiref.datasets import save_pair
    from hiref.methods import resolve_params
    from hiref.records import solve_and_record

    arrays = pair_arrays(joint)
    save_pair(tmp_path / "merfish.npz", arrays["x"], arrays["y"])
    kinds = {}
    for label, settings in (("frlc", {"rank": 5, "max_iter": 10, "min_iter": 5}),
                            ("minibatch-32", {}), ("minibatch_exact-32", {}), ("bspot-8", {})):
        record, matching = tmp_path / f"{label}.json", tmp_path / f"{label}.npz"
        solve_and_record(data=tmp_path / "merfish.npz", record=record, matching=matching,
                         experiment="merfish", dataset="merfish", method=label,
                         params=resolve_params(label, settings, "euclidean"), n=110, seed=0)
        transport = read_transport(matching, 110, 110)
        scores, _ = gene_transfer_scores(joint, transport, ["Gad1"], bins=10)
        kinds[label] = (transport.kind, sorted(scores["definition"]))
        assert scores["cosine_similarity"].between(-1, 1).all()
    both = ["binned_transfer", "plan_inner_product"]
    assert kinds == {"frlc": ("map", both), "minibatch-32": ("minibatch", ["plan_inner_product"]),
                     "minibatch_exact-32": ("bijection", both), "bspot-8": ("bijection", both)}
    assert all(list(formulas_of(label)) == kinds[label][1] for label in kinds)


def test_every_method_of_the_merfish_experiment_is_scored_by_default():
    """The default data.merfish.transfer_methods names every method the merfish experiment
    runs, each scored by the formulas its transport allows; the paper's methods by theirs."""
    import yaml
    from conftest import ROOT

    from hiref.workflow_config import load_schema

    schema = load_schema(ROOT / "config" / "schema.yaml")
    default = schema["properties"]["data"]["properties"]["merfish"]["properties"][
        "transfer_methods"]["default"]
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    methods = config["experiments"]["merfish"]["methods"]
    assert set(methods) <= set(default)
    for method in methods:
        assert formulas_of(method), method
        if method in PAPER_FORMULA:
            assert PAPER_FORMULA[method] in formulas_of(method)
    assert set(COSINES) == {f for m in methods for f in formulas_of(m)}
