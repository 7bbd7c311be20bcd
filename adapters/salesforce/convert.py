"""Salesforce rows → canonical records, for rows from REST (JSON types) and Bulk 2.0 (CSV text).

Pure functions over plain dicts: a REST row carries numbers, booleans and ``...+0000`` datetimes;
a Bulk 2.0 row carries the same values as text (empty = null, ``true``/``false``, ``...Z``). The
canonical field's type decides the conversion, so both sources give identical records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from scoring.records import Account, Event, Lead

from .mapping import EventSource, ObjectFields

__all__ = ["as_bool", "as_datetime", "as_ms", "to_account", "to_event", "to_lead", "who_of"]

_NUMBERS = {"employees", "annual_revenue", "duration_seconds"}
_TIMES = {"created_at", "updated_at"}


def as_datetime(value: Any) -> datetime | None:
    """``2024-01-31T09:15:00.000+0000``, ``...Z`` or a date ``2024-01-31`` (midnight UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def as_ms(value: Any) -> int | None:
    moment = as_datetime(value)
    return None if moment is None else int(moment.timestamp() * 1000)


def as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _value(canonical: str, raw: Any) -> Any:
    if canonical in _NUMBERS:
        return _number(raw)
    if canonical in _TIMES:
        return as_datetime(raw)
    return _text(raw)


def _fields(row: Mapping[str, Any], m: ObjectFields) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {k: _value(k, row.get(f)) for k, f in m.fields.items()}
    custom = {k: row.get(f) if row.get(f) != "" else None for k, f in m.custom.items()}
    return values, custom


def to_lead(row: Mapping[str, Any], m: ObjectFields) -> Lead:
    values, custom = _fields(row, m)
    return Lead(id=str(row["Id"]), **values, custom=custom)


def to_account(row: Mapping[str, Any], m: ObjectFields) -> Account:
    values, custom = _fields(row, m)
    return Account(id=str(row["Id"]), **values, custom=custom)


def who_of(row: Mapping[str, Any], source: EventSource) -> str | None:
    """The person an engagement row belongs to: the first non-empty ``who`` field."""
    return next((str(row[f]) for f in source.who if row.get(f)), None)


def to_event(row: Mapping[str, Any], source: EventSource, lead_id: str) -> Event | None:
    """One canonical event, or None when no rule gives a type or the row has no time."""
    kind = source.event_type(dict(row))
    when = next((as_datetime(row[f]) for f in source.when if row.get(f)), None)
    if kind is None or when is None:
        return None
    attrs = {k: _value(k, row.get(f)) for k, f in source.attributes.items()}
    return Event(lead_id=lead_id, type=kind, occurred_at=when, id=f"{source.object}:{row['Id']}", **attrs)
