import math

import pytest

from hiref import plan_levels, rank_schedule


@pytest.mark.parametrize(
    "n, kwargs, expected",
    [
        (8192, {}, [16, 512]),
        (200000, {"max_rank": 200}, [200, 1000]),
        (200000, {"max_rank": 256}, [200, 1000]),
        (640500, {"max_q": 2048, "max_rank": 64}, [7, 50, 1830]),
        (84172, {"depth": 4, "max_rank": 11, "max_q": 4096}, [2, 11, 3826]),
    ],
)
def test_authors_schedules(n, kwargs, expected):
    assert rank_schedule(n, **kwargs) == expected


def test_authors_schedule_rejects_prime_with_fix():
    with pytest.raises(ValueError, match="plan_levels"):
        rank_schedule(1009, max_q=128)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 97, 100, 1000, 1009, 1024, 65537, 2**20, 1000003])
@pytest.mark.parametrize("max_leaf", [2, 16, 128])
def test_plan_levels_covers_any_n(n, max_leaf):
    *ranks, leaf = plan_levels(n, max_rank=16, max_leaf=max_leaf, depth=8)
    blocks = math.prod(ranks)
    assert all(2 <= r <= 16 for r in ranks)
    assert len(ranks) + 1 <= 8
    assert blocks <= n and blocks * leaf >= n
    assert leaf <= max(max_leaf, n if not ranks else max_leaf)


def test_plan_levels_reproduces_authors_when_n_factors():
    assert plan_levels(8192, max_rank=16, max_leaf=1023) == [16, 512]


def test_plan_levels_impossible_config_is_clear():
    with pytest.raises(ValueError, match="depth"):
        plan_levels(10**6, max_rank=2, max_leaf=4, depth=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"max_rank": 1}, "max_rank"), ({"depth": 1}, "depth"), ({"max_q": 1}, "leaf")],
)
def test_schedule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rank_schedule(64, **kwargs)
