"""Threshold transitions for every lead of a run: a pure fold of :func:`scoring.thresholds.step`.

Returns only the states that changed (the store writes nothing for a lead that stayed where it
was) and the crossings that fire actions. The caller records both in one transaction with the
planned actions, so a crash never leaves a lead "entered" without its actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.store import StoredScore
from scoring.model import Threshold
from scoring.thresholds import ThresholdState, step

__all__ = ["Crossings", "decide_thresholds", "arm_only"]


@dataclass
class Crossings:
    states: dict[tuple[str, str], ThresholdState] = field(default_factory=dict)  # changed ones only
    fired: list[tuple[str, Threshold, datetime]] = field(default_factory=list)  # (lead, threshold, fired at)
    counts: dict[str, int] = field(default_factory=dict)  # "mql.entered" -> n


def decide_thresholds(thresholds: Sequence[Threshold], states: Mapping[tuple[str, str], ThresholdState],
                      scores: Sequence[StoredScore], now: datetime) -> Crossings:
    out = Crossings()
    for th in thresholds:
        for s in scores:
            value = {"score": s.score, "fit": s.fit, "intent": s.intent}[th.metric]
            before = states.get((s.lead_id, th.name), ThresholdState())
            transition = step(th, before, value, now)
            if transition.change not in ("stayed_in", "stayed_out"):
                out.counts[f"{th.name}.{transition.change}"] = out.counts.get(f"{th.name}.{transition.change}", 0) + 1
            if transition.state != before:
                out.states[(s.lead_id, th.name)] = transition.state
            if transition.fires:
                out.fired.append((s.lead_id, th, now))
    return out


def arm_only(crossings: Crossings) -> Crossings:
    """The same crossings with no actions: entries are recorded as quiet and never counted as fired.

    For the first sync of a portal that already has many hot leads: reps should not get hundreds of
    tasks at once for leads that were hot before leadscore arrived. A lead armed this way fires
    when it next enters after leaving (no cooldown applies: it never fired).
    """
    states = dict(crossings.states)
    counts = dict(crossings.counts)
    for lead_id, threshold, fired_at in crossings.fired:
        states[(lead_id, threshold.name)] = ThresholdState(active=True, since=fired_at, last_fired=None)
        key = f"{threshold.name}.entered"
        counts[key] -= 1
        counts[f"{threshold.name}.armed"] = counts.get(f"{threshold.name}.armed", 0) + 1
    return Crossings(states, [], {k: v for k, v in counts.items() if v})
