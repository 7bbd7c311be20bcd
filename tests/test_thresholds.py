"""Threshold crossings: hysteresis stops flapping, cooldown stops repeat firing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from scoring.model import Threshold
from scoring.thresholds import ThresholdState, step

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MQL = Threshold(name="mql", enter=70, exit=60, cooldown_days=30)


def run(values: list[float], days_apart: float = 1.0) -> list[str]:
    state, changes = ThresholdState(), []
    for i, value in enumerate(values):
        transition = step(MQL, state, value, T0 + timedelta(days=i * days_apart))
        state = transition.state
        changes.append(transition.change)
    return changes


def test_enters_fires_and_leaves_only_below_exit() -> None:
    assert run([50, 71, 65, 61, 59]) == ["stayed_out", "entered", "stayed_in", "stayed_in", "left"]


def test_one_visit_cannot_flap() -> None:
    """Hovering around the entry line between 60 and 75 enters once and stays in."""
    changes = run([72, 68, 71, 66, 74, 62])
    assert changes.count("entered") == 1 and "left" not in changes


def test_cooldown_suppresses_refiring_then_rearms() -> None:
    changes = run([75, 50, 75, 50, 75], days_apart=10)  # re-entries on day 20 and day 40
    assert changes == ["entered", "left", "entered_quietly", "left", "entered"]


def test_no_exit_means_exit_at_enter() -> None:
    plain = Threshold(name="hot", enter=80)
    state = step(plain, ThresholdState(), 85, T0).state
    assert step(plain, state, 79.9, T0).change == "left"


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=60), st.floats(min_value=0.1, max_value=40))
def test_fires_at_most_once_per_cooldown(values: list[float], days_apart: float) -> None:
    state, fired = ThresholdState(), []
    for i, value in enumerate(values):
        now = T0 + timedelta(days=i * days_apart)
        transition = step(MQL, state, value, now)
        if transition.fires:
            fired.append(now)
        state = transition.state
        assert state.active == (transition.change in ("entered", "entered_quietly", "stayed_in"))
    assert all(b - a >= timedelta(days=30) for a, b in zip(fired, fired[1:], strict=False))
