"""Properties of the measuring and binning helpers, over generated inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.predict.metrics import TIER_NAMES, assign_tiers, decile_table, roc_auc, tier_cuts
from scoring.predict.scorecard import _decimals, _edge_between

scores = st.lists(st.floats(0, 1, allow_nan=False), min_size=10, max_size=200)


@given(scores)
def test_a_higher_score_never_gets_a_worse_tier(values: list[float]) -> None:
    s = np.asarray(values)
    tiers = assign_tiers(s, tier_cuts(s))
    rank = {name: i for i, name in enumerate(TIER_NAMES)}
    order = np.argsort(s, kind="mergesort")
    assert all(rank[tiers[a]] >= rank[tiers[b]] for a, b in zip(order[:-1], order[1:], strict=True))


@given(scores, st.integers(0, 2**32 - 1))
def test_auc_flips_with_the_score_and_deciles_cover_every_lead(values: list[float], seed: int) -> None:
    s = np.asarray(values)
    y = np.random.default_rng(seed).integers(0, 2, len(s))
    if 0 < y.sum() < len(y):
        assert abs(roc_auc(y, s) + roc_auc(y, -s) - 1) < 1e-9
    assert sum(d["leads"] for d in decile_table(y, s)) == len(s)


@settings(max_examples=300)
@given(st.integers(-10**6, 10**6), st.integers(1, 10**4), st.integers(0, 3))
def test_range_edges_fall_strictly_between_and_off_the_data_grid(low: int, gap: int, digits: int) -> None:
    a, b = low / 10**digits, (low + gap) / 10**digits
    edge = _edge_between(a, b)
    assert a < edge < b
    # finer than both neighbours, so no value written with the data's precision can equal it
    assert _decimals(edge) > max(_decimals(a), _decimals(b))
