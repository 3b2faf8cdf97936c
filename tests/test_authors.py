"""The authors' HiRef (hiref.solve_authors, the method `hiref`): their schedule, their split,
their cost factorisation, low-rank splits above the last level on blocks of unequal size,
a true bijection, and the published settings that a run must match to stand beside the
paper's values."""

from __future__ import annotations

import dataclasses
import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from hiref import authors, methods
from hiref.authors import AuthorsSettings, schedule, solve_authors
from hiref.authors_config import EXECUTION_FIELDS
from hiref.datasets import synthetic
from hiref.report import published

#: 97 points (a prime: their code cannot schedule it) in blocks of at most 25: one low-rank
#: split into 4 blocks of 25, 24, 24, 24 points, then the rank-25 last level.
N, SMALL = 97, AuthorsSettings(max_q=26, max_rank=4)


def their_schedule(n, hierarchy_depth=6, max_Q=1024, max_rank=16):
    """The authors' optimal_rank_schedule (rank_annealing.py), transcribed."""
    q = max(f for f in range(1, n + 1) if n % f == 0 and f < max_Q)
    d_max, k = n // q, hierarchy_depth
    dp = [[float("inf")] * (k + 1) for _ in range(d_max + 1)]
    choice = [[-1] * (k + 1) for _ in range(d_max + 1)]
    for d in range(1, d_max + 1):
        if d <= max_rank:
            dp[d][1], choice[d][1] = d, d
    for t in range(2, k + 1):
        for d in range(1, d_max + 1):
            for r in range(1, min(max_rank, d) + 1):
                if d % r == 0 and r + r * dp[d // r][t - 1] < dp[d][t]:
                    dp[d][t], choice[d][t] = r + r * dp[d // r][t - 1], r
    ranks, d = [], d_max
    for t in range(k, 0, -1):
        ranks.append(choice[d][t])
        d //= choice[d][t]
    ranks = sorted(ranks) + [q]
    ranks = [r for r in ranks if r != 1]
    assert functools.reduce(operator.mul, ranks) == n
    return ranks


@pytest.mark.parametrize("n, settings, expected", [
    (1024, {}, [2, 512]), (8192, {}, [16, 512]), (65536, {}, [8, 16, 512]),
    (262144, {"max_rank": 64}, [8, 64, 512]),
    (1048576, {"max_rank": 64, "max_q": 2048}, [16, 64, 1024]),
    (84172, {"hierarchy_depth": 4, "max_rank": 11, "max_q": 4096}, [2, 11, 3826]),
    (640500, {"max_rank": 64, "max_q": 2048}, [7, 50, 1830]),
    (200000, {"max_rank": 256}, [200, 1000]),
])
def test_schedule_is_the_authors(n, settings, expected):
    assert schedule(n, AuthorsSettings(**settings)) == expected


@pytest.mark.parametrize("n", [96, 360, 1000, 2310, 4096, 6000])
def test_schedule_equals_their_dynamic_programme(n):
    settings = AuthorsSettings(max_q=64, max_rank=8, hierarchy_depth=4)
    assert schedule(n, settings) == their_schedule(n, 4, 64, 8)


def their_soft_split(scores, capacities):
    """The authors' soft split (HR_OT.py), transcribed: for column z in turn, torch.topk of
    the rows not yet taken."""
    seen, labels = np.arange(len(scores)), np.full(len(scores), -1)
    for z, cap in enumerate(capacities):
        top = np.argsort(-scores[seen, z], kind="stable")[:cap]
        labels[seen[top]] = z
        seen = np.delete(seen, top)
    return labels


@pytest.mark.parametrize("seed", range(3))
def test_soft_split_is_their_greedy_top_capacity(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((23, 5)).astype(np.float32)
    capacities = np.array([5, 5, 5, 4, 4])
    padded = np.concatenate([scores, np.zeros((2, 5), np.float32)])
    valid = np.arange(25) < 23
    labels = np.asarray(authors.soft_split(jnp.asarray(padded), jnp.asarray(valid),
                                           jnp.asarray(capacities), 5))
    assert (labels[:23] == their_soft_split(scores, capacities)).all()
    assert (labels[23:] == 5).all()  # padded rows belong to no co-cluster
    assert (np.bincount(labels[:23], minlength=5) == capacities).all()


def test_distance_factors_approximate_the_euclidean_cost():
    """Their sampled factorisation: a rough approximation of rank r (here 4) from r / eps
    sampled rows and columns; padded rows are zero."""
    x, y = synthetic.sample_pair("halfmoon_scurve", 512, seed=0)
    cost = cdist(x, y)
    valid = jnp.arange(520) < 512
    pad = functools.partial(jnp.pad, pad_width=((0, 8), (0, 0)))
    factors = jax.jit(authors.distance_factors, static_argnums=(3, 4))
    errors = []
    for seed in range(5):
        left, right = factors(pad(jnp.asarray(x)), pad(jnp.asarray(y)), valid, 4, 0.04,
                              jax.random.key(seed))
        assert left.shape == right.shape == (520, 4)
        assert not np.asarray(left[512:]).any() and not np.asarray(right[512:]).any()
        approx = np.asarray(left[:512]) @ np.asarray(right[:512]).T
        errors.append(np.linalg.norm(approx - cost) / np.linalg.norm(cost))
    assert np.median(errors) < 0.3, errors


@pytest.fixture(scope="module")
def pair():
    return synthetic.sample_pair("halfmoon_scurve", N, seed=0)


@pytest.fixture(scope="module")
def solved(pair):
    return solve_authors(*pair, settings=SMALL, seed=0)


def test_low_rank_split_of_unequal_blocks_then_a_rank_q_last_level(pair, solved):
    x, y = pair
    assert solved.schedule == [4, 25]
    assert [s.tolist() for s in authors.level_sizes(N, solved.schedule)] == [[97],
                                                                             [25, 24, 24, 24]]
    first, last = solved.extra["levels"]
    assert (first["blocks"], first["rank"]) == (1, 4)
    assert (last["blocks"], last["block_size"], last["rank"]) == (4, 25, 25)
    assert SMALL.min_iter <= first["iterations_mean"] <= SMALL.max_iter
    # A true bijection, scored exactly.
    assert sorted(solved.perm.tolist()) == list(range(N))
    assert solved.cost_p1 == pytest.approx(np.linalg.norm(x - y[solved.perm], axis=1).mean())
    optimum = cdist(x, y)[linear_sum_assignment(cdist(x, y))].mean()
    assert optimum <= solved.cost_p1 <= 1.02 * optimum
    # The last level's rank-25 plans, before their split into singletons.
    assert optimum * 0.9 < solved.extra["last_level_plan_cost"] < 1.1 * optimum
    assert solved.seconds > 0 and solved.compile_seconds > 0


def test_seeded(pair, solved):
    again = solve_authors(*pair, settings=SMALL, seed=0)
    other = solve_authors(*pair, settings=SMALL, seed=1)
    high = solve_authors(*pair, settings=SMALL, seed=2**32)  # 0 but for bit 32: 64-bit seeds
    assert (again.perm == solved.perm).all()
    assert not (other.perm == solved.perm).all()
    assert not (high.perm == solved.perm).all()
    assert again.compile_seconds < solved.compile_seconds  # the same programs, compiled once


def test_a_level_in_several_calls_reports_progress_and_solves_the_same(pair, monkeypatch):
    # One block per batch, so that the last level's 4 blocks can be split into calls; the
    # same batches in 1 call or in 4 give the same matching.
    monkeypatch.setattr(authors, "_batch", lambda *args: 1)
    monkeypatch.setattr(authors, "PROGRESS_CALLS", 1)
    whole = solve_authors(*pair, settings=SMALL, seed=0)
    monkeypatch.setattr(authors, "PROGRESS_CALLS", 4)
    reports = []
    split = solve_authors(*pair, settings=SMALL, seed=0, progress=reports.append)
    assert (split.perm == whole.perm).all() and split.cost_p1 == whole.cost_p1
    partial = [r for r in reports if "level_in_progress" in r]
    assert [(r["level_in_progress"], r["blocks_done"], r["blocks"]) for r in partial] == [
        (2, 1, 4), (2, 2, 4), (2, 3, 4)]
    assert all(r["seconds"] > 0 for r in partial)
    assert authors.describe_progress(partial[0]).startswith(
        "hiref (authors) level 2: 1 of 4 blocks in ")
    assert authors.describe_progress(reports[-1]).startswith(
        "hiref (authors) level 2: 4 blocks of <= 25 points, rank 25, ")
    # Only whole levels are kept in the record.
    assert split.extra["levels"] == [r for r in reports if "level" in r]
    assert [r["level"] for r in split.extra["levels"]] == [1, 2]


@pytest.mark.parametrize("blocks, batch, calls", [
    (1, 1, 1), (111, 1, 37), (350, 7, 25), (350, 1, 25), (40, 2, 20), (7, 7, 1), (97, 1, 97),
    (6, 1, 6)])
def test_calls_are_whole_batches_dividing_the_blocks(blocks, batch, calls):
    call = authors._call_blocks(blocks, batch)
    assert blocks % call == 0 and call % batch == 0 and blocks // call == calls


def test_squared_euclidean_uses_exact_factors(pair):
    x, y = pair
    align = solve_authors(x, y, cost="sqeuclidean", settings=SMALL, seed=0)
    assert sorted(align.perm.tolist()) == list(range(N))
    sq = cdist(x, y, "sqeuclidean")
    assert align.cost_p2 <= 1.05 * sq[linear_sum_assignment(sq)].mean()


def test_the_method_records_what_ran(pair, solved):
    params = methods.resolve_params("hiref", {"max_q": 26, "max_rank": 4}, "euclidean")
    result = methods.run("hiref", *pair, params, seed=0)
    assert (result.perm == solved.perm).all()
    assert result.extra["schedule"] == [4, 25] and len(result.extra["levels"]) == 2
    assert result.params["initial_latent"] == "inverse" and result.params["max_iter"] == 60


@pytest.mark.parametrize("kwargs, match", [
    ({"y": np.zeros((5, 2))}, "hiref.subsample_to_match"),
    ({"cost": "cosine"}, "cost must be one of"),
    ({"seed": -1}, "seed must be an integer"),
    ({"seed": 2**64}, r"seed must be an integer in \[0, 2\*\*64\)"),
    ({"settings": {"max_q": 8}}, "settings must be an AuthorsSettings"),
    ({"x": np.full((6, 2), np.nan)}, "NaN"),
])
def test_bad_input_is_refused_naming_the_fix(kwargs, match):
    args = {"x": np.zeros((6, 2)), "y": np.ones((6, 2)), **kwargs}
    with pytest.raises(ValueError, match=match):
        solve_authors(args.pop("x"), args.pop("y"), **args)


@pytest.mark.parametrize("changes, match", [
    ({"min_iter": 70}, "min_iter = 70 exceeds max_iter"),
    ({"max_q": 1}, "must be at least 2"),
    ({"initial_latent": "identity"}, "initial_latent must be one of"),
    ({"distance_eps": 2.0}, "distance_eps must lie in"),
    ({"gamma": 0}, "gamma must be a positive number"),
])
def test_bad_settings_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        AuthorsSettings(**changes)


#: Every setting that changes the result (memory bounds do not).
ALGORITHM_FIELDS = [f.name for f in dataclasses.fields(AuthorsSettings)
                    if f.name not in EXECUTION_FIELDS]


def hiref_entries():
    values = published.load()
    return values[(values["method"] == "hiref") & (values["experiment"] != "demo")]


def test_every_published_hiref_value_names_every_setting():
    """A published value of `hiref` names all of the authors' settings, so a run that
    changes any of them cannot stand beside it."""
    for entry in hiref_entries().itertuples():
        assert set(entry.settings) == set(ALGORITHM_FIELDS), (entry.experiment, entry.n)


@pytest.mark.parametrize("field", ALGORITHM_FIELDS)
def test_a_changed_setting_loses_the_paper_value_and_says_why(field):
    entry = hiref_entries().query("experiment == 'synthetic'").iloc[0]
    params = methods.resolve_params("hiref", entry["settings"], "euclidean")
    assert published.compare(entry, "euclidean", params) is None
    value = params[field]
    changed = {**params, field: ("coupling" if isinstance(value, str) else value * 2)}
    reason = published.compare(entry, "euclidean", changed)
    assert reason is not None and reason.startswith(f"{field} = ")
