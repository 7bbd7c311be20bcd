"""What to write back: pure functions from scores and the values last written to a ranked list.

A CRM field is written only when the value a rep would see changes: scores are written as whole
numbers (a 71.2 → 71.4 drift writes nothing), the reasons text only when it changes. The values
last *acknowledged* by the CRM are the reference, so a write that was lost (crash, failure,
budget) is simply derived again on the next run: nothing is ever forgotten and nothing is sent
twice once acknowledged.

Under an API budget the hottest, most-changed records go first: a new grade or priority (or a
record never written) before a score move, a score move before a reasons-only change, and within
a tier the higher score and the bigger move first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["OUTPUT_FIELDS", "Change", "whole_points", "desired_lead_values", "diff", "rank", "plan_writes",
           "split_budget", "demote_failing"]

#: canonical names of the fields leadscore writes to a lead (see connector.sync.fields for CRM names)
OUTPUT_FIELDS = ("score", "fit", "intent", "grade", "priority", "reasons", "model_version")


def _round(value: float) -> int:
    """Half up, like a person rounds (Python's round() would send 70.5 to 70)."""
    return int(math.floor(float(value) + 0.5))


_POINTS = re.compile(r"([+-])(\d+(?:\.\d+)?)(?=;|$)")


def whole_points(reasons: str) -> str:
    """``Pricing page +49.7; Free mail -10`` → ``Pricing page +50; Free mail -10``: the written text
    changes when a reason does, not every time decay moves a decimal."""
    return _POINTS.sub(lambda m: f"{m.group(1)}{_round(float(m.group(2)))}", reasons)


def desired_lead_values(score: float, fit: float, intent: float, grade: str, priority: str, reasons: str,
                        model_version: str) -> dict[str, Any]:
    return {"score": _round(score), "fit": _round(fit), "intent": _round(intent), "grade": grade,
            "priority": priority, "reasons": whole_points(reasons), "model_version": model_version}


@dataclass(frozen=True)
class Change:
    object: str  # "lead" | "account"
    record_id: str
    values: dict[str, Any]  # only the fields whose value changes
    rank: float


def diff(desired: Mapping[str, Any], written: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``desired`` whose value differs from what was last written."""
    return {k: v for k, v in desired.items() if k not in written or written[k] != v}


def rank(changed: Mapping[str, Any], desired: Mapping[str, Any], written: Mapping[str, Any]) -> float:
    """Higher goes first. Tier 3: never written or a new owner; 2: grade/priority/rollup class
    changed; 1: score moved; 0: anything else (reasons, model version). Then hotter, then bigger move."""
    if not written or "owner_id" in changed:
        tier = 3
    elif "grade" in changed or "priority" in changed:
        tier = 2
    elif "score" in changed:
        tier = 1
    else:
        tier = 0
    score = float(desired.get("score") or 0)
    before = written.get("score")
    moved = abs(score - float(before)) if isinstance(before, int | float) else 100.0
    return tier * 1000.0 + score + moved / 1000.0


def plan_writes(obj: str, desired: Mapping[str, Mapping[str, Any]],
                written: Mapping[str, Mapping[str, Any]]) -> list[Change]:
    """Every record whose written values would change, highest rank first (ties by id)."""
    changes = []
    for record_id, values in desired.items():
        before = written.get(record_id, {})
        changed = diff(values, before)
        if changed:
            # an account's rollup follows the leads of its tier: reps work leads first
            offset = 500.0 if obj == "account" else 0.0
            changes.append(Change(obj, record_id, changed, rank(changed, values, before) - offset))
    changes.sort(key=lambda c: (-c.rank, c.record_id))
    return changes


#: failed attempts after which a record's write is held back: the CRM refuses it for a reason that
#: will not pass by itself (a portal validation rule, a locked record), so sending it again every run
#: would spend calls forever; ``sync --retry-held`` sends such writes again once the cause is fixed
HOLD_AFTER = 5


def held_back(changes: Sequence[Change], attempts: Mapping[tuple[str, str], int],
              retry_held: bool = False) -> tuple[list[Change], list[Change]]:
    """(changes to send, changes held back after :data:`HOLD_AFTER` failed attempts)."""
    if retry_held:
        return list(changes), []
    send: list[Change] = []
    held: list[Change] = []
    for c in changes:
        (held if attempts.get((c.object, c.record_id), 0) >= HOLD_AFTER else send).append(c)
    return send, held


def demote_failing(changes: Sequence[Change], attempts: Mapping[tuple[str, str], int]) -> list[Change]:
    """Records the CRM keeps rejecting go after every other write (each failed attempt drops a
    record by a whole tier), so one bad record cannot take the budget from good ones."""
    out = []
    for c in changes:
        failed = attempts.get((c.object, c.record_id), 0)
        out.append(Change(c.object, c.record_id, c.values, c.rank - 10_000.0 * min(failed, 10)) if failed else c)
    return out


def split_budget(changes: Sequence[Change], calls: int | None, batch_size: int) -> tuple[list[Change], list[Change]]:
    """(write now, carry to the next run): as many top-ranked changes as ``calls`` batches hold.

    Each batch holds one object type, so the budget is spent in rank order batch by batch.
    """
    ordered = sorted(changes, key=lambda c: (-c.rank, c.record_id))
    if calls is None:
        return ordered, []
    now: list[Change] = []
    per_object: dict[str, int] = {}
    used = 0
    for change in ordered:
        filled = per_object.get(change.object, 0)
        if filled % batch_size == 0:  # this record opens a new batch of its object
            if used >= calls:
                continue
            used += 1
        per_object[change.object] = filled + 1
        now.append(change)
    chosen = {(c.object, c.record_id) for c in now}
    later = [c for c in ordered if (c.object, c.record_id) not in chosen]
    return now, later
