"""One lead, rule by rule: the readable reference path of the scoring core.

:func:`explain` walks a single lead's fields and events in plain Python and returns each rule's
signed, decayed contribution, the caps that bit, and the resulting scores. It is deliberately a
separate implementation from :mod:`scoring.engine`; a property test checks that both agree on
random models and inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import derive
from .conditions import is_missing, matches
from .engine import DAY_US, to_utc_micros
from .model import Decay, ScoringModel
from .outputs import band, clip_cap, combine, format_points, grade, normalise, priority

__all__ = ["Contribution", "Explanation", "explain"]


@dataclass(frozen=True)
class Contribution:
    rule_id: str
    label: str
    kind: str  # "fit" | "intent"
    group: str
    points: float  # signed, decayed, after the rule's cap
    uncapped: float  # before the rule's cap
    events_matched: int = 0
    events_counted: int = 0  # after the window limit

    @property
    def text(self) -> str:
        return f"{self.label} {format_points(round(self.points * 10.0) / 10.0)}"


@dataclass
class Explanation:
    lead_id: str
    model_version: str
    now: datetime
    fit: float
    intent: float
    score: float
    grade: str
    band: int
    priority: str
    fit_raw: float
    intent_raw: float
    contributions: list[Contribution]
    group_caps: dict[str, float] = field(default_factory=dict)  # group -> points removed by cap
    reasons: list[Contribution] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id, "model_version": self.model_version,
            "now": self.now.isoformat(), "fit": round(self.fit, 2), "intent": round(self.intent, 2),
            "score": round(self.score, 2), "grade": self.grade, "priority": self.priority,
            "fit_points": self.fit_raw, "intent_points": self.intent_raw,
            "contributions": [c.__dict__ for c in self.contributions],
            "group_caps": self.group_caps,
            "reasons": [c.text for c in self.reasons],
        }


def _value(model: ScoringModel, name: str, lead: Mapping[str, Any],
           account: Mapping[str, Any] | None, ages: list[float]) -> Any:
    scope, _, attr = name.partition(".")
    if scope == "lead":
        if attr == "email_domain":
            return derive.email_domain(lead.get("email"))
        if attr == "free_email":
            return derive.is_free_email(lead.get("email"))
        if attr == "seniority":
            return derive.seniority(lead.get("title"))
        if attr == "department":
            return derive.department(lead.get("title"))
        if attr == "days_since_last_activity":
            return min(ages) if ages else None
        if attr == "event_count":
            return float(len(ages))
        return lead.get(attr)
    if f"account.{attr}" in lead:
        value = lead[f"account.{attr}"]
    else:
        value = None if account is None else account.get(attr)
    # A lead without an account (a Salesforce Lead) carries company facts itself.
    return lead.get(attr) if value is None else value


def _micros(occurred_at: Any) -> int | None:
    if isinstance(occurred_at, str):
        occurred_at = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    if not isinstance(occurred_at, datetime):
        return None
    return to_utc_micros(occurred_at)


def _decay(decay: Decay, age: float, idle: float) -> float:
    if decay.type == "exponential":
        assert decay.half_life_days is not None
        return 2.0 ** (-age / decay.half_life_days)
    if decay.type == "linear":
        assert decay.lifespan_days is not None
        return max(0.0, 1.0 - age / decay.lifespan_days)
    if decay.type == "step":
        assert decay.after_days is not None and decay.drop_pct is not None
        periods = math.floor(idle / decay.after_days)
        if not decay.repeat:
            periods = min(periods, 1)
        return (1.0 - decay.drop_pct / 100.0) ** periods
    return 1.0


def _attribute(event: Mapping[str, Any], attr: str) -> Any:
    name = attr.removeprefix("attributes.")
    for key in (attr, name, f"attributes.{name}"):
        if key in event:
            return event[key]
    nested = event.get("attributes")
    return nested.get(name) if isinstance(nested, Mapping) else None


def explain(model: ScoringModel, lead: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
            now: datetime, account: Mapping[str, Any] | None = None) -> Explanation:
    """Score one lead and say why. ``events`` are this lead's events, in input order."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    now_us = to_utc_micros(now)
    usable: list[tuple[int, Mapping[str, Any], float]] = []
    days: dict[int, float] = {}  # absolute days since the epoch, for window buckets
    for i, event in enumerate(events):
        t_us = _micros(event.get("occurred_at"))
        if t_us is None or t_us > now_us or is_missing(event.get("type")):
            continue
        usable.append((i, event, (now_us - t_us) / DAY_US))
        days[i] = t_us / DAY_US
    ages = [age for _, _, age in usable]
    idle = min(ages) if ages else math.nan

    contributions: list[Contribution] = []
    group_caps: dict[str, float] = {}
    fit_raw = 0.0
    fit_rules = model.fit_rules()
    for gi, group in enumerate(model.fit.groups):
        total = 0.0
        for rid, rgi, rule in fit_rules:
            if rgi != gi:
                continue
            value = _value(model, rule.field, lead, account, ages)
            points = float(rule.points) if matches(rule.condition, value) else 0.0
            contributions.append(Contribution(rid, rule.description or rid, "fit", group.name,
                                              points, points))
            total = total + points
        capped = clip_cap(total, group.cap)
        if capped != total:
            group_caps[f"fit:{group.name}"] = capped - total
        fit_raw = fit_raw + capped

    intent_raw = 0.0
    intent_rules = model.intent_rules()
    for gi, igroup in enumerate(model.intent.groups):
        total = 0.0
        for rid, rgi, irule, decay in intent_rules:
            if rgi != gi:
                continue
            hits = [(i, age) for i, event, age in usable
                    if event.get("type") in irule.events
                    and all(matches(c, _attribute(event, a)) for a, c in irule.where.items())]
            counted = hits
            if irule.window is not None:
                w = irule.window
                per_bucket: dict[float, list[tuple[int, float]]] = {}
                for i, age in hits:
                    per_bucket.setdefault(math.floor(days[i] / w.days), []).append((i, age))
                kept = {i for bucket in per_bucket.values()
                        for i, _ in sorted(bucket, key=lambda h: (h[1], h[0]))[: w.max_events]}
                counted = [(i, age) for i, age in hits if i in kept]
            rule_total = 0.0
            for _, age in counted:
                rule_total = rule_total + float(irule.points) * _decay(decay, age, idle)
            points = clip_cap(rule_total, irule.cap)
            contributions.append(Contribution(rid, irule.description or rid, "intent", igroup.name,
                                              points, rule_total, len(hits), len(counted)))
            total = total + points
        capped = clip_cap(total, igroup.cap)
        if capped != total:
            group_caps[f"intent:{igroup.name}"] = capped - total
        intent_raw = intent_raw + capped

    fit = normalise(fit_raw, model.fit_max_points)
    intent = normalise(intent_raw, model.intent.max_points)
    score = combine(fit, intent, model)
    letter, hot = grade(fit, model), band(intent, model)
    ranked = sorted(enumerate(contributions), key=lambda ic: (-abs(ic[1].points), ic[0]))
    reasons = [c for _, c in ranked if abs(c.points) > 0][: model.outputs.reasons]
    return Explanation(
        lead_id=str(lead.get("id")), model_version=model.version, now=now, fit=fit,
        intent=intent, score=score, grade=letter, band=hot, priority=priority(letter, hot),
        fit_raw=fit_raw, intent_raw=intent_raw, contributions=contributions,
        group_caps=group_caps, reasons=reasons,
    )
