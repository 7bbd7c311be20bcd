"""The shape of a synthetic tenant: the :class:`Tenant` container and its table schemas.

Column names are the canonical field names of :mod:`scoring.records`, so whatever seeds a sandbox
CRM, a store or a scoring run from a tenant maps columns to fields by name. The event table of a
*generated* tenant dictionary-encodes its text columns (``lead_id``, ``type``, ``url``, ``form``,
``campaign``, ``email_id``) to keep twenty million events in a few hundred megabytes; a tenant
loaded from CSV has plain strings. Arrow treats both alike (``to_pylist``, compute functions);
``events.cast(EVENT_SCHEMA)`` gives plain strings when a consumer needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from scoring.records import ACCOUNT_FIELDS, LEAD_FIELDS

__all__ = [
    "Tenant",
    "OWNER_SCHEMA",
    "ACCOUNT_SCHEMA",
    "LEAD_SCHEMA",
    "EVENT_SCHEMA",
    "CAMPAIGN_SCHEMA",
    "TIMESTAMP",
]

TIMESTAMP = pa.timestamp("us", tz="UTC")
_NUMBERS = {"employees", "annual_revenue", "duration_seconds"}
_TIMES = {"created_at", "updated_at", "occurred_at", "converted_at"}


def _field(name: str) -> pa.Field:
    if name in _NUMBERS:
        return pa.field(name, pa.float64())
    if name in _TIMES:
        return pa.field(name, TIMESTAMP)
    return pa.field(name, pa.string())


OWNER_SCHEMA = pa.schema([_field(n) for n in
                          ("id", "first_name", "last_name", "email", "team", "territory")]
                         + [pa.field("active", pa.bool_())])
ACCOUNT_SCHEMA = pa.schema([_field(n) for n in ACCOUNT_FIELDS])
#: Lead fields, then: ``kind`` ("lead": an unconverted-or-converted Salesforce Lead that carries
#: ``company`` text; "contact": a Contact with an ``account_id``; HubSpot treats both as
#: contacts), ``converted`` (became a sales opportunity at ``converted_at``) and ``closed_won``
#: (the opportunity was won; implies ``converted``).
LEAD_SCHEMA = pa.schema([_field(n) for n in LEAD_FIELDS] + [
    pa.field("kind", pa.string()),
    pa.field("converted", pa.bool_()),
    pa.field("converted_at", TIMESTAMP),
    pa.field("closed_won", pa.bool_()),
])
EVENT_SCHEMA = pa.schema([_field(n) for n in (
    "id", "lead_id", "type", "occurred_at", "url", "form", "campaign", "email_id",
    "duration_seconds")])
CAMPAIGN_SCHEMA = pa.schema([_field(n) for n in ("id", "name", "type")])


@dataclass
class Tenant:
    """One synthetic (or CSV-loaded) CRM tenant, CRM-neutral and columnar.

    ``propensity`` is the hidden truth the outcomes were drawn from (one value per row of
    ``leads``), there to measure how well a scoring model recovers it; ``None`` for a tenant
    loaded from CSV. No CRM field carries it.
    """

    owners: pa.Table
    accounts: pa.Table
    leads: pa.Table
    events: pa.Table
    campaigns: pa.Table
    now: datetime
    propensity: np.ndarray | None = None
