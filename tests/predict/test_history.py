"""Properties of the store features: nothing at or after a lead's cut counts; decay only shrinks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.predict.history import OUTCOMES, OutcomeRule, activity_features, outcomes

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
IDS = ["a", "b", "c"]
_event = st.tuples(st.sampled_from(IDS + ["stranger"]), st.sampled_from(["page_view", "email_open"]),
                   st.integers(0, 90 * 24))


def _events(rows: list[tuple[str, str, int]]) -> pa.Table:
    return pa.table({"lead_id": pa.array([r[0] for r in rows], pa.string()),
                     "type": pa.array([r[1] for r in rows], pa.string()),
                     "occurred_at": pa.array([T0 + timedelta(hours=r[2]) for r in rows],
                                             pa.timestamp("us", tz="UTC"))})


@settings(max_examples=60, deadline=None)
@given(st.lists(_event, max_size=40), st.lists(_event, min_size=1, max_size=10),
       st.lists(st.integers(1, 90 * 24), min_size=3, max_size=3))
def test_events_at_or_after_the_cut_change_nothing(before: list[tuple[str, str, int]],
                                                  late: list[tuple[str, str, int]], cut_hours: list[int]) -> None:
    cut = np.array([(T0 + timedelta(hours=h)).timestamp() for h in cut_hours])
    kept = [e for e in before if e[0] not in IDS or e[2] < cut_hours[IDS.index(e[0])]]
    after = [(lead, kind, max(h, cut_hours[IDS.index(lead)])) for lead, kind, h in late if lead in IDS]
    types = ("page_view", "email_open")
    base = activity_features(IDS, _events(kept), cut, types=types)
    assert activity_features(IDS, _events(kept + after), cut, types=types).equals(base)


@settings(max_examples=60, deadline=None)
@given(st.lists(_event, max_size=40), st.floats(1.0, 365.0))
def test_a_decayed_count_never_exceeds_the_count(rows: list[tuple[str, str, int]], half_life: float) -> None:
    cut = np.full(len(IDS), (T0 + timedelta(days=91)).timestamp())
    table = activity_features(IDS, _events(rows), cut, half_life, types=("page_view", "email_open"))
    for kind in ("page_view", "email_open"):
        n = np.array(table.column(f"n_{kind}").to_pylist())
        decayed = np.array(table.column(f"decayed_{kind}").to_pylist())
        assert np.all(decayed <= n + 1e-9) and np.all(decayed >= 0)
    assert table.column("n_events").to_pylist() == [sum(1 for r in rows if r[0] == i) for i in IDS]


def test_the_outcome_rule_reads_stage_or_status_whatever_the_spelling() -> None:
    leads = pa.table({"lifecycle_stage": ["Customer ", "opportunity", "lead", None, "lead"],
                      "lead_status": [None, "Working", "Closed -  Converted", None, "Not Converted"],
                      "converted_at": ["2026-02-01T00:00:00Z", None, "2026-03-01", None, "2026-01-05"]})
    y, when = outcomes(leads, OUTCOMES["converted"])
    assert y.tolist() == [1, 1, 1, 0, 0]
    assert [not np.isnan(w) for w in when] == [True, False, True, False, False]  # no time for a lead not converted
    y, _ = outcomes(leads, OUTCOMES["customer"])
    assert y.tolist() == [1, 0, 0, 0, 0]
    y, _ = outcomes(leads, OutcomeRule("won", statuses=frozenset({"not converted"})))
    assert y.tolist() == [0, 0, 0, 0, 1]
