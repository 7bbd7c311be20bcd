"""Pure bookkeeping: write diffs, ranking under a budget, score changes, thresholds, owners, rollup."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.automation.assign import choose_owner, employee_band
from connector.automation.config import AssignOwner, parse_actions
from connector.automation.plan import idempotency_key, plan_actions, render
from connector.automation.rollup import rollup
from connector.store import StoredScore
from connector.sync.diff import Change, demote_failing, desired_lead_values, diff, plan_writes, split_budget
from connector.sync.scores import score_changes
from connector.sync.thresholds import decide_thresholds
from scoring.errors import ConfigError
from scoring.model import Threshold
from scoring.thresholds import ThresholdState

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _score(lead: str, score: float, grade: str = "B", priority: str = "B2", reasons: str = "r") -> StoredScore:
    return StoredScore(lead, 60.0, 50.0, score, grade, priority, reasons, "v1")


def test_scores_are_written_as_whole_numbers_and_only_when_they_change() -> None:
    before = desired_lead_values(71.2, 60.4, 50.0, "B", "B2", "pricing +10", "v1")
    after = desired_lead_values(71.4, 60.2, 50.3, "B", "B2", "pricing +10", "v1")
    assert before["score"] == 71 and diff(after, before) == {}
    assert desired_lead_values(70.5, 0, 0, "F", "F4", "", "v")["score"] == 71  # half up, not banker's
    moved = desired_lead_values(72.6, 60.2, 50.3, "B", "B2", "pricing +12", "v1")
    assert diff(moved, before) == {"score": 73, "reasons": "pricing +12"}


def test_grade_changes_outrank_drift_and_hot_outranks_cold() -> None:
    written = {
        "drift_hot": desired_lead_values(90, 60, 50, "A", "A1", "x", "v"),
        "regrade_cold": desired_lead_values(20, 60, 50, "C", "C4", "x", "v"),
        "reasons_only": desired_lead_values(95, 60, 50, "A", "A1", "x", "v"),
    }
    desired = {
        "drift_hot": desired_lead_values(91, 60, 50, "A", "A1", "x", "v"),
        "regrade_cold": desired_lead_values(20, 60, 50, "B", "B4", "x", "v"),
        "reasons_only": desired_lead_values(95, 60, 50, "A", "A1", "y", "v"),
        "never_written": desired_lead_values(5, 0, 0, "F", "F4", "", "v"),
        "unchanged": desired_lead_values(50, 0, 0, "F", "F4", "", "v"),
    }
    written["unchanged"] = desired["unchanged"]
    order = [c.record_id for c in plan_writes("lead", desired, written)]
    assert order == ["never_written", "regrade_cold", "drift_hot", "reasons_only"]


def _changes(n: int, obj: str = "lead") -> list[Change]:
    return [Change(obj, f"{obj}{i:03d}", {"score": i}, float(i)) for i in range(n)]


def test_budget_takes_the_top_ranked_batches_and_carries_the_rest() -> None:
    now, later = split_budget(_changes(23), calls=2, batch_size=10)
    assert [c.record_id for c in now] == [f"lead{i:03d}" for i in range(22, 2, -1)]
    assert {c.record_id for c in later} == {"lead002", "lead001", "lead000"}
    everything, none = split_budget(_changes(23), calls=None, batch_size=10)
    assert len(everything) == 23 and none == []
    nothing, all_later = split_budget(_changes(3), calls=0, batch_size=10)
    assert nothing == [] and len(all_later) == 3


@given(n=st.integers(0, 60), accounts=st.integers(0, 30), calls=st.integers(0, 8), batch=st.integers(1, 12))
def test_budget_never_needs_more_calls_than_allowed(n: int, accounts: int, calls: int, batch: int) -> None:
    now, later = split_budget(_changes(n) + _changes(accounts, "account"), calls, batch)
    batches = sum(-(-sum(1 for c in now if c.object == o) // batch) for o in ("lead", "account"))
    assert batches <= calls
    assert len(now) + len(later) == n + accounts
    if later:  # what is carried never outranks what went, within an object
        for obj in ("lead", "account"):
            went = [c.rank for c in now if c.object == obj]
            kept = [c.rank for c in later if c.object == obj]
            if went and kept:
                assert min(went) >= max(kept)


def test_score_changes_keep_history_only_for_visible_changes() -> None:
    old = {"a": _score("a", 70.1), "b": _score("b", 40.0)}
    new = [_score("a", 70.3), _score("b", 41.0, grade="C", priority="C3"), _score("c", 10.0)]
    changed, history = score_changes(old, new, NOW, "run1", "tester")
    assert [s.lead_id for s in changed] == ["b", "c"]
    assert (history[0]["old_score"], history[0]["score"], history[0]["old_grade"], history[0]["grade"]) == (
        40, 41, "B", "C")
    assert history[1]["old_score"] is None and history[1]["actor"] == "tester"


def test_thresholds_fire_once_with_hysteresis_and_cooldown() -> None:
    mql = Threshold(name="mql", enter=70, exit=60, cooldown_days=30)
    first = decide_thresholds([mql], {}, [_score("a", 75), _score("b", 65)], NOW)
    assert [f[0] for f in first.fired] == ["a"] and list(first.states) == [("a", "mql")]
    states = dict(first.states)
    wobble = decide_thresholds([mql], states, [_score("a", 65)], NOW + timedelta(days=1))
    assert wobble.fired == [] and wobble.states == {}  # still in: above exit
    left = decide_thresholds([mql], states, [_score("a", 55)], NOW + timedelta(days=2))
    states.update(left.states)
    back = decide_thresholds([mql], states, [_score("a", 80)], NOW + timedelta(days=3))
    assert back.fired == [] and back.counts == {"mql.entered_quietly": 1}  # cooldown
    states.update(back.states)
    states[("a", "mql")] = ThresholdState(False, NOW, NOW)
    later = decide_thresholds([mql], states, [_score("a", 80)], NOW + timedelta(days=31))
    assert [f[0] for f in later.fired] == ["a"]


def test_owner_assignment_territories_round_robin_weighted_and_keep_existing() -> None:
    spec = AssignOwner.model_validate({
        "type": "assign_owner",
        "territories": [{"name": "na-big", "where": {"country": ["US", "CA"], "employee_band": ["1000+"]},
                         "team": [{"id": "T1"}, {"id": "T2"}]}],
        "team": [{"id": "D1"}, {"id": "D2", "weight": 3}], "mode": "round_robin"})
    counters: dict = {}
    big_us = {"country": "us", "employees": 5000}
    assert [choose_owner(spec, "mql", big_us, counters)[0] for _ in range(3)] == ["T1", "T2", "T1"]
    assert choose_owner(spec, "mql", {"country": "FR"}, counters)[0] == "D1"
    assert choose_owner(spec, "mql", {"country": "US", "owner_id": "X"}, counters) == ("X", False)
    weighted = spec.model_copy(update={"mode": "weighted", "territories": []})
    picks = [choose_owner(weighted, "mql", {}, counters)[0] for _ in range(8)]
    assert picks.count("D2") == 6 and picks.count("D1") == 2
    assert employee_band(49) == "1-49" and employee_band(1000) == "1000+" and employee_band(None) is None


def test_planned_actions_have_stable_keys_and_decided_payloads() -> None:
    mql = Threshold(name="mql", enter=70, actions=[
        {"type": "assign_owner", "team": [{"id": "O1"}, {"id": "O2"}], "keep_existing": False},
        {"type": "create_task", "subject": "Call {name} ({score})", "due_days": 2},
        {"type": "notify", "webhook_env": "HOOK", "text": "{name} is {priority}"},
        {"type": "enroll", "target": "seq-1"},
        {"type": "set_fields", "lifecycle_stage": "marketingqualifiedlead"},
    ])
    specs = {"mql": parse_actions(mql)}
    leads = {"a": {"first_name": "Ada", "last_name": "L"}, "b": {"email": "b@x.com"}}
    scores = {"a": _score("a", 80.4, "A", "A1"), "b": _score("b", 75, "B", "B1")}
    fired = [("a", mql, NOW), ("b", mql, NOW)]
    rows, counters = plan_actions("t", fired, specs, leads, scores, {})
    again, _ = plan_actions("t", fired, specs, leads, scores, {})
    assert [r["key"] for r in rows] == [r["key"] for r in again] and len({r["key"] for r in rows}) == 10
    assert rows[0]["key"] == idempotency_key("t", "a", "mql", NOW, 0, "assign_owner")
    assert [r["payload"]["owner_id"] for r in rows if r["kind"] == "assign_owner"] == ["O1", "O2"]
    task_a = next(r for r in rows if r["kind"] == "create_task" and r["lead_id"] == "a")
    assert task_a["payload"]["subject"] == "Call Ada L (80)" and task_a["payload"]["owner_id"] == "O1"
    assert task_a["payload"]["due"] == (NOW + timedelta(days=2)).isoformat()
    assert counters == {"assign:mql:default:round_robin": 2}
    assert render("{unknown} {name}", {"name": "x"}) == "{unknown} x"


def test_bad_action_config_names_the_threshold_and_key() -> None:
    bad = Threshold(name="mql", enter=70, actions=[{"type": "create_task", "subjekt": "x"}])
    with pytest.raises(ConfigError, match=r"thresholds\.mql\.actions\.0\.subjekt: unknown key 'subjekt'"):
        parse_actions(bad)


def test_rollup_methods() -> None:
    rows = [("A", 90.0, "Intern"), ("A", 40.0, "VP Sales"), ("A", 20.0, "Engineer"), ("B", 50.0, None),
            (None, 99.0, "CEO")]
    assert rollup(rows, "max") == {"A": 90.0, "B": 50.0}
    assert rollup(rows, "sum") == {"A": 100.0, "B": 50.0}
    assert rollup(rows, "top_n", top_n=2) == {"A": 65.0, "B": 50.0}
    weighted = rollup(rows, "seniority")["A"]
    assert weighted < 50.0  # the engaged VP weighs more than the hot intern


def test_records_the_crm_keeps_rejecting_go_last() -> None:
    changes = [Change("lead", "bad", {"grade": "A"}, 2100.0), Change("lead", "ok", {"score": 3}, 1003.0)]
    demoted = demote_failing(changes, {("lead", "bad"): 2})
    assert [c.record_id for c in split_budget(demoted, calls=1, batch_size=1)[0]] == ["ok"]
    assert demote_failing(changes, {}) == changes
