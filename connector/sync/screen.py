"""Records from a CRM are screened before they reach the store: a bad value is its record's problem.

A CRM holds whatever its users and integrations typed: an Annual Revenue of ``NaN``, ``Infinity`` or
``1e999``, a head count of minus three, a date in the year 20000, a property pasted full of a
document. None of these may stop the sync of everyone else, and none may reach the store (where
PostgreSQL refuses NaN in JSON and the engine would score it). A record with such a value is left
out of this run and reported by object, id, field and value; when someone fixes it in the CRM, its
modification time moves and the next sync pulls it again.

Pure: plain records in, (kept records, problems) out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from scoring.records import Account, Event, Lead

__all__ = ["Rejected", "screen", "summarise", "NUMBER_RANGES", "MAX_TEXT", "YEARS"]

#: the values a number may take; outside them it is a typing slip, not a fact about a company
NUMBER_RANGES: Mapping[str, tuple[float, float]] = {
    "employees": (0, 10_000_000),  # the largest employers have about two million
    "annual_revenue": (0, 1e13),  # the largest companies take in under a trillion a year
    "duration_seconds": (0, 31 * 86_400),
}
#: the longest text a field may hold: HubSpot's limit for a property value (65,536 characters)
MAX_TEXT = 65_536
#: the years a date may fall in
YEARS = (1900, 2200)


@dataclass(frozen=True)
class Rejected:
    object: str  # "leads", "accounts", "events"
    record_id: str
    field: str
    problem: str

    def __str__(self) -> str:
        return (f"{self.object[:-1]} {self.record_id}: {self.field}: {self.problem}; "
                "skipped until it is fixed in the CRM")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float | int):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{_shown(value)} is not a finite number"
        low, high = NUMBER_RANGES.get(name, (-math.inf, math.inf))
        if isinstance(value, int) and abs(value) > 2**63:
            return f"{_shown(value)} is too large a number"
        if not low <= value <= high:
            return f"{_shown(value)} is outside {low:,.0f}..{high:,.0f}"
        return None
    if isinstance(value, str):
        return f"text of {len(value):,} characters (at most {MAX_TEXT:,})" if len(value) > MAX_TEXT else None
    if isinstance(value, datetime):
        return None if YEARS[0] <= value.year <= YEARS[1] else f"{value.isoformat()} is not a plausible date"
    if isinstance(value, Mapping):
        return next((f"{k}: {p}" for k, v in value.items() if (p := _problem(str(k), v))), None)
    if isinstance(value, list | tuple):
        return next((p for v in value if (p := _problem(name, v))), None)
    return None


def _first_problem(record: Lead | Account | Event) -> tuple[str, str] | None:
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name in ("custom", "attributes") and isinstance(value, Mapping):
            for key, inner in value.items():
                problem = _problem(str(key), inner)
                if problem:
                    return f"{f.name}.{key}", problem
            continue
        problem = _problem(f.name, value)
        if problem:
            return f.name, problem
    return None


def screen(obj: str, records: Iterable[Lead | Account | Event]) -> tuple[list[Any], list[Rejected]]:
    """(the records fit to store, one :class:`Rejected` per record left out)."""
    kept: list[Any] = []
    rejected: list[Rejected] = []
    for record in records:
        found = _first_problem(record)
        if found is None:
            kept.append(record)
        else:
            rid = record.id if not isinstance(record, Event) else (record.id or f"of {record.lead_id}")
            rejected.append(Rejected(obj, str(rid), *found))
    return kept, rejected


def summarise(rejected: Sequence[Rejected], limit: int = 20) -> list[dict[str, str]]:
    return [{"object": r.object, "id": r.record_id, "field": r.field, "problem": r.problem} for r in rejected[:limit]]
