"""The state store's tables and its migrations, one definition for SQLite and PostgreSQL.

Every table is keyed by ``tenant`` first, so one store can serve several CRMs or portals. Times
the scoring core compares (event times) are integers of microseconds since the epoch, so they
load straight into Arrow; bookkeeping times are timezone-aware datetimes stored as UTC.

Migrations are a list of numbered steps applied in order inside one transaction each and
recorded in ``schema_migrations``; a store written by a newer leadscore is refused rather than
guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import StoreError

__all__ = [
    "metadata", "leads", "accounts", "events", "scores", "score_history", "cursors", "written",
    "outbox", "actions", "threshold_state", "locks", "kv", "runs", "lead_stages", "schema_migrations",
    "MIGRATIONS", "SCHEMA_VERSION", "migrate", "UTCDateTime",
]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A datetime that always comes back timezone-aware in UTC (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


metadata = sa.MetaData()
ID = sa.String(255)
TENANT = sa.String(120)

schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

leads = sa.Table(
    "leads", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("email", sa.String(320)),
    sa.Column("account_id", ID),
    sa.Column("owner_id", ID),
    sa.Column("updated_at", UTCDateTime),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Index("ix_leads_account", "tenant", "account_id"),
)

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("domain", sa.String(255)),
    sa.Column("updated_at", UTCDateTime),
    sa.Column("payload", sa.JSON, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    # the CRM's event id when it has one, else a hash of what the event is (see store.event_key)
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("lead_id", ID, nullable=False),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("occurred_us", sa.BigInteger, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("form", sa.String(255)),
    sa.Column("campaign", sa.String(255)),
    sa.Column("email_id", sa.String(255)),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("attributes", sa.JSON),
    sa.Index("ix_events_lead", "tenant", "lead_id"),
)

scores = sa.Table(
    "scores", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("lead_id", ID, primary_key=True),
    sa.Column("fit", sa.Float, nullable=False),
    sa.Column("intent", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("grade", sa.String(2), nullable=False),
    sa.Column("priority", sa.String(4), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("model_version", sa.String(40), nullable=False),
    sa.Column("scored_at", UTCDateTime, nullable=False),
    sa.Index("ix_scores_rank", "tenant", "score"),
)

score_history = sa.Table(
    "score_history", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant", TENANT, nullable=False),
    sa.Column("lead_id", ID, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),  # the run's "now"
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),  # who: "sync@host pid", "backfill", ...
    sa.Column("old_score", sa.Integer),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("old_grade", sa.String(2)),
    sa.Column("grade", sa.String(2), nullable=False),
    sa.Column("old_priority", sa.String(4)),
    sa.Column("priority", sa.String(4), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),  # why
    sa.Column("model_version", sa.String(40), nullable=False),
    sa.Index("ix_history_lead", "tenant", "lead_id", "at"),
)

cursors = sa.Table(
    "cursors", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("adapter", sa.String(40), primary_key=True),
    sa.Column("object", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text),  # committed: every write it covers is acknowledged
    sa.Column("pending", sa.Text),  # pulled and stored, writes not yet acknowledged
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

written = sa.Table(
    "written", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("object", sa.String(20), primary_key=True),
    sa.Column("record_id", ID, primary_key=True),
    sa.Column("field", sa.String(120), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("written_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("object", sa.String(20), primary_key=True),
    sa.Column("record_id", ID, primary_key=True),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Column("rank", sa.Float, nullable=False),  # higher goes first under a budget
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

actions = sa.Table(
    "actions", metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # idempotency key
    sa.Column("tenant", TENANT, nullable=False),
    sa.Column("lead_id", ID, nullable=False),
    sa.Column("threshold", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # order within one crossing
    sa.Column("payload", sa.JSON, nullable=False),
    # planned -> running (recorded before the call) -> done | retry (-> running ...) | parked | failed |
    # uncertain; an admin may set parked or failed rows back to planned, or to dropped
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("result", sa.Text),
    sa.Column("planned_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Index("ix_actions_status", "tenant", "status"),
)

threshold_state = sa.Table(
    "threshold_state", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("lead_id", ID, primary_key=True),
    sa.Column("threshold", sa.String(80), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("since", UTCDateTime),
    sa.Column("last_fired", UTCDateTime),
)

locks = sa.Table(
    "locks", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

kv = sa.Table(
    "kv", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant", TENANT, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status", sa.String(20), nullable=False),  # running | ok | failed
    sa.Column("summary", sa.JSON),
    sa.Index("ix_runs_tenant", "tenant", "started_at"),
)


lead_stages = sa.Table(
    "lead_stages", metadata,
    sa.Column("tenant", TENANT, primary_key=True),
    sa.Column("lead_id", ID, primary_key=True),
    sa.Column("field", sa.String(40), primary_key=True),  # lifecycle_stage | lead_status
    sa.Column("value", sa.String(255), primary_key=True),
    # when the lead was first seen with this value: the CRM's last-modified time of the record
    # that showed the change; NULL when it already had it the first time we saw the lead
    sa.Column("reached_at", UTCDateTime),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


_LATER = ("lead_stages",)  # created by later migrations


def _initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables
                                      if t is not schema_migrations and t.name not in _LATER])


def _stage_log(conn: Connection) -> None:
    lead_stages.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: leads, accounts, events, scores, history, cursors, written, outbox, "
                 "actions, threshold state, locks, kv, runs", _initial),
    Migration(2, "lead_stages: when each lead reached each lifecycle stage and lead status", _stage_log),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(conn: Connection, now: datetime) -> list[int]:
    """Apply the migrations this store lacks; returns the versions applied."""
    schema_migrations.create(conn, checkfirst=True)
    have = {row[0] for row in conn.execute(sa.select(schema_migrations.c.version))}
    newest = max(have, default=0)
    if newest > SCHEMA_VERSION:
        raise StoreError(f"the store is at schema version {newest}, newer than this leadscore "
                           f"understands ({SCHEMA_VERSION}); upgrade leadscore")
    applied = []
    for m in MIGRATIONS:
        if m.version in have:
            continue
        m.apply(conn)
        conn.execute(schema_migrations.insert().values(version=m.version, description=m.description,
                                                       applied_at=now))
        applied.append(m.version)
    return applied
