"""HubSpot objects (``{"id", "properties": {name: text}}``) ↔ canonical records and property values.

HubSpot returns every property as text (or null); the canonical records are typed. The mapping
(:mod:`mappings.loader`) says which property feeds which field; the field's type says how to read
it. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from adapters.base import STAGE_ENTERED
from adapters.cursors import ms_of
from mappings.loader import ObjectFields
from scoring.records import Account, Lead

__all__ = ["parse_number", "parse_time", "to_account", "to_lead", "to_property_value", "ms_of_text"]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FLOATS = {"employees", "annual_revenue"}
_TIMES = {"created_at", "updated_at"}


def parse_number(text: str | None) -> float | None:
    """A number, or the first number in a band such as ``"100-500"`` / ``"1000+"`` (its lower bound)."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        m = _NUMBER.search(text.replace(",", ""))
        return float(m.group()) if m else None


def parse_time(text: Any) -> datetime | None:
    """HubSpot's datetimes: ISO-8601 (``...Z``) or epoch milliseconds."""
    if text is None or text == "":
        return None
    raw = str(text).strip()
    if raw.isdigit():
        try:
            return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(raw))
        except OverflowError:  # milliseconds past the year 9999: no date a record can hold
            return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def ms_of_text(text: Any) -> int:
    moment = parse_time(text)
    return ms_of(moment) if moment else 0


def _fields(props: Mapping[str, Any], mapping: ObjectFields) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {}
    for name, prop in mapping.fields.items():
        raw = props.get(prop)
        if name in _FLOATS:
            values[name] = parse_number(raw)
        elif name in _TIMES:
            values[name] = parse_time(raw)
        else:
            values[name] = None if raw in (None, "") else str(raw)
    custom = {name: props.get(prop) for name, prop in mapping.custom.items() if props.get(prop) not in (None, "")}
    return values, custom


#: HubSpot's default lifecycle stage ids; each has a "date entered" property hs_v2_date_entered_<id>
#: (https://knowledge.hubspot.com/records/use-lifecycle-stages)
LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                    "evangelist", "other")


def stage_entered_properties() -> list[str]:
    return [f"hs_v2_date_entered_{s}" for s in LIFECYCLE_STAGES]


def to_lead(obj: Mapping[str, Any], mapping: ObjectFields, account_id: str | None) -> Lead:
    props = obj.get("properties") or {}
    values, custom = _fields(props, mapping)
    lead = Lead(id=str(obj["id"]), account_id=account_id, custom=custom, **values)
    stage = props.get(mapping.fields.get("lifecycle_stage") or "lifecyclestage")
    entered = parse_time(props.get(f"hs_v2_date_entered_{stage}")) if stage else None
    if entered is not None:
        lead.custom[STAGE_ENTERED] = entered.isoformat()
    return lead


def to_account(obj: Mapping[str, Any], mapping: ObjectFields) -> Account:
    values, custom = _fields(obj.get("properties") or {}, mapping)
    return Account(id=str(obj["id"]), custom=custom, **values)


def to_property_value(value: Any) -> str:
    """What HubSpot accepts for a property: text; booleans as true/false; times as ISO-8601 UTC with
    milliseconds; None clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)
