"""Threshold crossings with hysteresis and cooldown, as a pure function of state and score.

A lead *enters* a threshold (say MQL) when its metric reaches ``enter`` and *leaves* only when it
falls below ``exit`` (hysteresis: one visit cannot flap it in and out). Entering *fires* (asks
for the threshold's actions) unless the last firing was less than ``cooldown_days`` ago; an
entry inside the cooldown is recorded as ``entered_quietly`` so the lead still shows as MQL.

The sync engine keeps one :class:`ThresholdState` per lead and threshold and calls
:func:`step` with each new score; nothing here reads a clock or a store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from .model import Threshold

__all__ = ["ThresholdState", "Transition", "step"]

Change = Literal["entered", "entered_quietly", "left", "stayed_in", "stayed_out"]


@dataclass(frozen=True)
class ThresholdState:
    active: bool = False
    since: datetime | None = None  # when it last entered or left
    last_fired: datetime | None = None


@dataclass(frozen=True)
class Transition:
    state: ThresholdState
    change: Change

    @property
    def fires(self) -> bool:
        """True when the threshold's actions should run for this lead now."""
        return self.change == "entered"


def step(threshold: Threshold, state: ThresholdState, value: float, now: datetime) -> Transition:
    """The next state of one lead for one threshold, given its new metric value."""
    if state.active:
        if value < threshold.exit_at:
            return Transition(replace(state, active=False, since=now), "left")
        return Transition(state, "stayed_in")
    if value < threshold.enter:
        return Transition(state, "stayed_out")
    cooling = (
        state.last_fired is not None
        and now - state.last_fired < timedelta(days=threshold.cooldown_days)
    )
    if cooling:
        return Transition(replace(state, active=True, since=now), "entered_quietly")
    return Transition(ThresholdState(active=True, since=now, last_fired=now), "entered")
