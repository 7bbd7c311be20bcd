"""Stored values → the text Salesforce sends (JSON records and Bulk 2.0 CSV cells)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .schema import FieldDef

__all__ = ["csv_cell", "format_datetime", "json_value"]


def format_datetime(ms: int) -> str:
    """``2024-01-31T09:15:00.000+0000``: the form the REST API returns."""
    value = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def json_value(definition: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if definition.type == "datetime":
        return format_datetime(value)
    return value


def csv_cell(definition: FieldDef, value: Any) -> str:
    """Bulk 2.0 CSV: empty for null, ``true``/``false``, datetimes with ``Z``."""
    if value is None:
        return ""
    if definition.type == "boolean":
        return "true" if value else "false"
    if definition.type == "datetime":
        return format_datetime(value).replace("+0000", "Z")
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if definition.type == "int" else repr(value)
    return str(value)
