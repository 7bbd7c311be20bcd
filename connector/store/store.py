"""The state store: canonical records, scores and the sync's bookkeeping, behind one class.

One code path for SQLite (a file, the default) and PostgreSQL (by URL): SQLAlchemy Core with the
two dialects' ``INSERT ... ON CONFLICT``, which they spell the same way. Each method is one
transaction, so a process killed between two calls leaves the store at a consistent point; the
sync run is built from such steps (see :mod:`connector.sync.run`).

Nothing here decides anything: which values to write, which actions to take and in what order
are pure functions in :mod:`connector.sync`; this class only reads and records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
import tenacity
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from adapters.base import STAGE_ENTERED
from scoring.engine import to_utc_micros
from scoring.records import Account, Event, Lead
from scoring.thresholds import ThresholdState

from . import migrations
from . import schema as s
from .errors import StoreError

__all__ = ["Store", "StoredScore", "PendingWrite", "ActionRow", "event_key", "redact_url"]

_CHUNK = 5_000  # rows per executemany / per Arrow batch


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by the caller
        return "<unparseable store URL>"


def event_key(event: Event) -> str:
    """De-duplication key: the CRM's event id when there is one, else a hash of what happened."""
    if event.id:
        basis = ["id", event.id]
    else:
        occurred = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=timezone.utc)
        basis = ["h", event.lead_id, event.type, occurred.astimezone(timezone.utc).isoformat(),
                 event.url or "", event.form or ""]
    return hashlib.sha256(json.dumps(basis).encode()).hexdigest()


def _instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _payload(record: Lead | Account) -> dict[str, Any]:
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


@dataclasses.dataclass(frozen=True)
class StoredScore:
    lead_id: str
    fit: float
    intent: float
    score: float
    grade: str
    priority: str
    reasons: str
    model_version: str


@dataclasses.dataclass(frozen=True)
class PendingWrite:
    object: str
    record_id: str
    values: dict[str, Any]
    rank: float
    attempts: int
    last_error: str | None = None  # what the CRM said the last time it refused this write


@dataclasses.dataclass(frozen=True)
class ActionRow:
    key: str
    lead_id: str
    threshold: str
    kind: str
    seq: int
    payload: dict[str, Any]
    status: str
    attempts: int
    result: str | None
    finished_at: datetime | None = None  # of the last attempt


class Store:
    """Open with :meth:`open`; every method takes the tenant it works for."""

    def __init__(self, engine: Engine):
        self.engine = engine
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported store backend '{dialect}': use sqlite:/// or postgresql+psycopg://")
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert

    # ---- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, now: datetime | None = None, read_only: bool = False) -> Store:
        """Connect, and bring the schema up to date under the migration lock (see
        :mod:`connector.store.migrations`). ``read_only`` never changes the schema: a store that
        is missing or behind is a :class:`StoreError` saying what to run."""
        if read_only:
            _must_exist(url)
        try:
            engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] == "psycopg":
                raise  # the command line names the extra to install
            raise StoreError(f"cannot use store {redact_url(url)}: {exc}") from None
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use store {redact_url(url)}: {exc}") from None
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)

        def prepare() -> None:
            with engine.begin() as conn:
                if read_only:
                    _check_current(conn, url)
                else:
                    migrations.upgrade(conn, now or datetime.now(timezone.utc))

        try:
            # SQLite can refuse a lock at once instead of waiting (a new file switching to WAL while
            # other processes open it too): such a refusal is retried, a few times, briefly
            tenacity.Retrying(retry=tenacity.retry_if_exception(_sqlite_busy), stop=tenacity.stop_after_attempt(6),
                              wait=tenacity.wait_random_exponential(multiplier=0.05, max=2), reraise=True)(prepare)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise StoreError(f"cannot open store {redact_url(url)}: {exc.orig}") from None
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    @classmethod
    def status(cls, url: str) -> dict[str, Any]:
        """The schema's revision, the newest this leadscore has, and whether they match; changes nothing."""
        _must_exist(url)
        try:
            engine = sa.create_engine(url, future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use store {redact_url(url)}: {exc}") from None
        try:
            with engine.connect() as conn:
                return migrations.status(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open store {redact_url(url)}: {exc.orig}") from None
        finally:
            engine.dispose()

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(s.schema_migrations.c.version))).scalar() or 0)

    def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
                update: Sequence[str] | None = None) -> None:
        """Insert rows; on a key conflict update ``update`` columns (or do nothing when None)."""
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        for start in range(0, len(rows), _CHUNK):
            stmt = self._insert(table)
            if update is None:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            else:
                stmt = stmt.on_conflict_do_update(index_elements=keys,
                                                  set_={c: stmt.excluded[c] for c in update})
            conn.execute(stmt, list(rows[start:start + _CHUNK]))

    # ---- canonical records ----------------------------------------------------------------
    def ingest(self, tenant: str, obj: str, records: Sequence[Any], cursor: tuple[str, str] | None = None,
               now: datetime | None = None) -> int:
        """Store one pulled page and, in the same transaction, stage its cursor ``(adapter, value)``.

        ``obj`` is ``leads``, ``accounts`` or ``events``; returns how many events were new (0 for
        records). One commit per page: the page and its cursor are durable together or not at all.
        """
        with self.engine.begin() as conn:
            new = 0
            if obj == "leads":
                self._log_stages(conn, tenant, records, now or datetime.now(timezone.utc))
                self._upsert(conn, s.leads, _lead_rows(tenant, records),
                             ["email", "account_id", "owner_id", "updated_at", "payload"])
            elif obj == "accounts":
                self._upsert(conn, s.accounts, _account_rows(tenant, records), ["name", "domain", "updated_at",
                                                                                "payload"])
            elif obj == "events":
                new = self._add_events(conn, tenant, records)
            else:
                raise ValueError(f"unknown object '{obj}': leads, accounts or events")
            if cursor is not None:
                adapter, value = cursor
                self._upsert(conn, s.cursors, [{"tenant": tenant, "adapter": adapter, "object": obj, "value": None,
                                                "pending": value, "updated_at": now or datetime.now(timezone.utc)}],
                             ["pending", "updated_at"])
            return new

    def _log_stages(self, conn: Connection, tenant: str, records: Sequence[Lead], now: datetime) -> None:
        """Remember when each lead was first seen at each lifecycle stage and lead status: a
        change seen between two pulls happened by the record's last-modified time (so an outcome
        time is known to within a sync interval); a value a lead already had when first seen has
        no known time. Where the CRM records when the lead entered its lifecycle stage
        (``Lead.custom[STAGE_ENTERED]``, ISO 8601), that exact time is used instead."""
        ids = list(dict.fromkeys(r.id for r in records))
        before: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _CHUNK):
            for rid, payload in conn.execute(sa.select(s.leads.c.id, s.leads.c.payload).where(
                    s.leads.c.tenant == tenant, s.leads.c.id.in_(ids[start:start + _CHUNK]))):
                before[rid] = payload or {}
        rows = []
        for r in records:
            old = before.get(r.id)
            for name in _STAGE_FIELDS:
                value = getattr(r, name)
                if value in (None, "") or (old is not None and old.get(name) == value):
                    continue
                reached = None if old is None else (r.updated_at or now)
                exact = _instant(r.custom.get(STAGE_ENTERED)) if name == "lifecycle_stage" else None
                if exact is not None:  # the CRM's own stage-entry time (HubSpot hs_v2_date_entered_<stage>)
                    reached = exact
                rows.append({"tenant": tenant, "lead_id": r.id, "field": name, "value": str(value)[:255],
                             "reached_at": reached, "seen_at": now})
            before[r.id] = {**(old or {}), **{name: getattr(r, name) for name in _STAGE_FIELDS}}  # twice in a page
        self._upsert(conn, s.lead_stages, rows)  # the first time a value is seen wins

    def stage_times(self, tenant: str) -> pa.Table:
        """lead_id, field (lifecycle_stage or lead_status), value, reached_at (null: unknown)."""
        c = s.lead_stages.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.lead_id, c.field, c.value, c.reached_at)
                                .where(c.tenant == tenant).order_by(c.lead_id, c.field, c.value)).all()
        return pa.table({"lead_id": pa.array([r[0] for r in rows], pa.string()),
                         "field": pa.array([r[1] for r in rows], pa.string()),
                         "value": pa.array([r[2] for r in rows], pa.string()),
                         "reached_at": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC"))})

    def upsert_leads(self, tenant: str, records: Sequence[Lead]) -> int:
        self.ingest(tenant, "leads", records)
        return len(records)

    def upsert_accounts(self, tenant: str, records: Sequence[Account]) -> int:
        self.ingest(tenant, "accounts", records)
        return len(records)

    def add_events(self, tenant: str, records: Sequence[Event]) -> int:
        """Store events not seen before; returns how many were new."""
        return self.ingest(tenant, "events", records)

    def _add_events(self, conn: Connection, tenant: str, records: Sequence[Event]) -> int:
        rows: dict[str, dict[str, Any]] = {}
        for e in records:
            key = event_key(e)
            rows[key] = {"tenant": tenant, "key": key, "lead_id": e.lead_id, "type": e.type,
                         "occurred_us": to_utc_micros(e.occurred_at), "url": e.url, "form": e.form,
                         "campaign": e.campaign, "email_id": e.email_id, "duration_seconds": e.duration_seconds,
                         "attributes": e.attributes or None}
        keys = list(rows)
        seen: set[str] = set()
        for start in range(0, len(keys), 500):  # the primary key answers this without a scan
            seen.update(conn.execute(sa.select(s.events.c.key).where(
                s.events.c.tenant == tenant, s.events.c.key.in_(keys[start:start + 500]))).scalars())
        fresh = [row for key, row in rows.items() if key not in seen]
        self._upsert(conn, s.events, fresh)  # ON CONFLICT DO NOTHING still guards a concurrent writer
        return len(fresh)

    @staticmethod
    def _count(conn: Connection, table: sa.Table, tenant: str) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.tenant == tenant)).scalar() or 0)

    def count(self, tenant: str, what: str) -> int:
        table = {"leads": s.leads, "accounts": s.accounts, "events": s.events, "scores": s.scores}[what]
        with self.engine.connect() as conn:
            return self._count(conn, table, tenant)

    def lead(self, tenant: str, lead_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(s.leads.c.payload).where(s.leads.c.tenant == tenant,
                                                                 s.leads.c.id == lead_id)).first()
        return None if row is None else _flatten(row[0])

    def account(self, tenant: str, account_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(s.accounts.c.payload).where(s.accounts.c.tenant == tenant,
                                                                    s.accounts.c.id == account_id)).first()
        return None if row is None else _flatten(row[0])

    def lead_events(self, tenant: str, lead_id: str) -> list[dict[str, Any]]:
        cols = _EVENT_COLUMNS
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*[s.events.c[c] for c in cols]).where(
                s.events.c.tenant == tenant, s.events.c.lead_id == lead_id)).all()
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        return [{**dict(zip(cols, r, strict=True)), "occurred_at": epoch + _micros(r[2])} for r in rows]

    # ---- Arrow views for the batch engine -------------------------------------------------
    def lead_table(self, tenant: str) -> pa.Table:
        """Every lead, canonical fields plus custom fields by name, ordered by id."""
        with self.engine.connect() as conn:
            rows = [_flatten(p) for (p,) in conn.execute(
                sa.select(s.leads.c.payload).where(s.leads.c.tenant == tenant).order_by(s.leads.c.id))]
        return _table(rows, ["id"])

    def account_table(self, tenant: str) -> pa.Table | None:
        with self.engine.connect() as conn:
            rows = [_flatten(p) for (p,) in conn.execute(
                sa.select(s.accounts.c.payload).where(s.accounts.c.tenant == tenant))]
        return _table(rows, ["id"]) if rows else None

    def event_table(self, tenant: str) -> pa.Table:
        """Every stored event in the engine's column names, read in batches."""
        cols = _EVENT_COLUMNS
        schema = pa.schema([("lead_id", pa.string()), ("type", pa.string()),
                            ("occurred_at", pa.timestamp("us", tz="UTC")), ("url", pa.string()),
                            ("form", pa.string()), ("campaign", pa.string()), ("email_id", pa.string()),
                            ("duration_seconds", pa.float64())])
        batches = []
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=50_000).execute(
                sa.select(*[s.events.c[c] for c in cols]).where(s.events.c.tenant == tenant))
            for part in result.partitions():
                columns = list(zip(*part, strict=True))
                arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
                batches.append(pa.record_batch(arrays,
                                               schema=schema))
        return pa.Table.from_batches(batches, schema=schema)

    # ---- scores and history ---------------------------------------------------------------
    def scores(self, tenant: str) -> dict[str, StoredScore]:
        c = s.scores.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.lead_id, c.fit, c.intent, c.score, c.grade, c.priority, c.reasons,
                                          c.model_version).where(c.tenant == tenant)).all()
        return {r[0]: StoredScore(*r) for r in rows}

    def save_scores(self, tenant: str, changed: Sequence[StoredScore], history: Sequence[Mapping[str, Any]],
                    now: datetime) -> None:
        """Record new current scores and their audit rows in one transaction."""
        rows = [{**dataclasses.asdict(x), "tenant": tenant, "scored_at": now} for x in changed]
        with self.engine.begin() as conn:
            self._upsert(conn, s.scores, rows, ["fit", "intent", "score", "grade", "priority", "reasons",
                                                "model_version", "scored_at"])
            for start in range(0, len(history), _CHUNK):
                conn.execute(s.score_history.insert(), [{**h, "tenant": tenant}
                                                        for h in history[start:start + _CHUNK]])

    def history(self, tenant: str, lead_id: str, limit: int = 20) -> list[dict[str, Any]]:
        h = s.score_history.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(s.score_history).where(h.tenant == tenant, h.lead_id == lead_id)
                                .order_by(h.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def queue(self, tenant: str, limit: int) -> list[dict[str, Any]]:
        """Hottest leads first, with their owner and name for display."""
        c, lc = s.scores.c, s.leads.c
        stmt = (sa.select(c.lead_id, c.score, c.fit, c.intent, c.grade, c.priority, c.reasons, lc.owner_id,
                          lc.payload)
                .join(s.leads, sa.and_(lc.tenant == c.tenant, lc.id == c.lead_id))
                .where(c.tenant == tenant).order_by(c.score.desc(), c.lead_id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    # ---- cursors --------------------------------------------------------------------------
    def cursor(self, tenant: str, adapter: str, obj: str) -> str | None:
        c = s.cursors.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(c.value).where(c.tenant == tenant, c.adapter == adapter,
                                                         c.object == obj)).scalar()

    def cursors(self, tenant: str, adapter: str) -> dict[str, tuple[str | None, str | None]]:
        """object -> (committed, pending)."""
        c = s.cursors.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.object, c.value, c.pending).where(c.tenant == tenant,
                                                                             c.adapter == adapter)).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    def stage_cursor(self, tenant: str, adapter: str, obj: str, value: str | None, now: datetime) -> None:
        """Remember how far a pull got; it counts only once :meth:`commit_cursors` runs."""
        with self.engine.begin() as conn:
            self._upsert(conn, s.cursors, [{"tenant": tenant, "adapter": adapter, "object": obj, "value": None,
                                            "pending": value, "updated_at": now}], ["pending", "updated_at"])

    def commit_cursors(self, tenant: str, adapter: str, now: datetime) -> None:
        c = s.cursors.c
        with self.engine.begin() as conn:
            conn.execute(s.cursors.update().where(c.tenant == tenant, c.adapter == adapter, c.pending.is_not(None))
                         .values(value=c.pending, pending=None, updated_at=now))

    def drop_pending_cursors(self, tenant: str, adapter: str) -> None:
        c = s.cursors.c
        with self.engine.begin() as conn:
            conn.execute(s.cursors.update().where(c.tenant == tenant, c.adapter == adapter).values(pending=None))

    # ---- values written and the outbox ----------------------------------------------------
    def written(self, tenant: str, obj: str) -> dict[str, dict[str, Any]]:
        """record id -> field -> the value the CRM acknowledged last."""
        w = s.written.c
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for rid, field, value in conn.execute(sa.select(w.record_id, w.field, w.value).where(
                    w.tenant == tenant, w.object == obj)):
                out.setdefault(rid, {})[field] = value
        return out

    def replace_outbox(self, tenant: str, writes: Sequence[PendingWrite], run_id: str, now: datetime) -> None:
        """Make the outbox exactly ``writes``: a run re-derives every pending write from the store."""
        rows = [{"tenant": tenant, "object": w.object, "record_id": w.record_id, "values": w.values,
                 "rank": w.rank, "run_id": run_id, "attempts": w.attempts, "last_error": w.last_error,
                 "created_at": now}
                for w in writes]
        with self.engine.begin() as conn:
            conn.execute(s.outbox.delete().where(s.outbox.c.tenant == tenant))
            self._upsert(conn, s.outbox, rows)

    def outbox(self, tenant: str) -> list[PendingWrite]:
        o = s.outbox.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(o.object, o.record_id, o["values"], o.rank, o.attempts, o.last_error)
                                .where(o.tenant == tenant).order_by(o.rank.desc(), o.record_id)).all()
        return [PendingWrite(r[0], r[1], dict(r[2]), float(r[3]), int(r[4]), r[5]) for r in rows]

    def acknowledge(self, tenant: str, obj: str, done: Sequence[tuple[str, Mapping[str, Any]]],
                    failed: Sequence[tuple[str, str]], now: datetime) -> None:
        """The CRM took ``done`` (record id, values): remember them as written, drop them from the
        outbox. ``failed`` (record id, error) stay in the outbox with the error and one more attempt."""
        rows = [{"tenant": tenant, "object": obj, "record_id": rid, "field": f, "value": v, "written_at": now}
                for rid, values in done for f, v in values.items()]
        o = s.outbox.c
        with self.engine.begin() as conn:
            self._upsert(conn, s.written, rows, ["value", "written_at"])
            ids = [rid for rid, _ in done]
            for start in range(0, len(ids), _CHUNK):
                conn.execute(s.outbox.delete().where(o.tenant == tenant, o.object == obj,
                                                     o.record_id.in_(ids[start:start + _CHUNK])))
            for rid, error in failed:
                conn.execute(s.outbox.update().where(o.tenant == tenant, o.object == obj, o.record_id == rid)
                             .values(attempts=o.attempts + 1, last_error=error[:2000]))

    def remove_leads(self, tenant: str, gone: Mapping[str, str | None]) -> int:
        """Forget people the CRM deleted, merged or converted away (id → successor id or None).

        Their events move to the successor (its intent keeps the history, as the CRM moves the
        activities), or are dropped; their score, written values, pending writes, threshold
        states and stage log go; planned actions for them are cancelled. Score history and the action log stay,
        as the audit trail. One transaction. Returns how many stored leads were removed."""
        ids = sorted(gone)
        if not ids:
            return 0
        lead, e, a = s.leads.c, s.events.c, s.actions.c
        with self.engine.begin() as conn:
            removed = 0
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                removed += conn.execute(s.leads.delete().where(lead.tenant == tenant, lead.id.in_(chunk))).rowcount or 0
                conn.execute(s.scores.delete().where(s.scores.c.tenant == tenant, s.scores.c.lead_id.in_(chunk)))
                conn.execute(s.written.delete().where(s.written.c.tenant == tenant, s.written.c.object == "lead",
                                                      s.written.c.record_id.in_(chunk)))
                conn.execute(s.outbox.delete().where(s.outbox.c.tenant == tenant, s.outbox.c.object == "lead",
                                                     s.outbox.c.record_id.in_(chunk)))
                conn.execute(s.threshold_state.delete().where(s.threshold_state.c.tenant == tenant,
                                                              s.threshold_state.c.lead_id.in_(chunk)))
                conn.execute(s.lead_stages.delete().where(s.lead_stages.c.tenant == tenant,
                                                          s.lead_stages.c.lead_id.in_(chunk)))
                conn.execute(s.actions.update().where(a.tenant == tenant, a.lead_id.in_(chunk),
                                                      a.status.in_(("planned", "running")))
                             .values(status="cancelled", result="the lead was removed in the CRM"))
                dropped = [i for i in chunk if not gone[i]]
                if dropped:
                    conn.execute(s.events.delete().where(e.tenant == tenant, e.lead_id.in_(dropped)))
            for old, new in gone.items():
                if new:
                    conn.execute(s.events.update().where(e.tenant == tenant, e.lead_id == old).values(lead_id=new))
            return removed

    # ---- thresholds and actions -----------------------------------------------------------
    def threshold_states(self, tenant: str) -> dict[tuple[str, str], ThresholdState]:
        t = s.threshold_state.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.lead_id, t.threshold, t.active, t.since, t.last_fired)
                                .where(t.tenant == tenant)).all()
        return {(r[0], r[1]): ThresholdState(bool(r[2]), r[3], r[4]) for r in rows}

    def plan(self, tenant: str, states: Mapping[tuple[str, str], ThresholdState],
             planned: Sequence[Mapping[str, Any]], kv_updates: Mapping[str, Any], now: datetime) -> None:
        """Record threshold transitions and the actions they fire in ONE transaction, so a crash
        can never leave a lead marked as having entered without its actions (or the reverse)."""
        state_rows = [{"tenant": tenant, "lead_id": lead, "threshold": th, "active": st.active,
                       "since": st.since, "last_fired": st.last_fired} for (lead, th), st in states.items()]
        action_rows = [{**a, "tenant": tenant, "status": "planned", "attempts": 0, "planned_at": now}
                       for a in planned]
        with self.engine.begin() as conn:
            self._upsert(conn, s.threshold_state, state_rows, ["active", "since", "last_fired"])
            self._upsert(conn, s.actions, action_rows)  # an existing key is never planned twice
            self._upsert(conn, s.kv, [{"tenant": tenant, "key": k, "value": v} for k, v in kv_updates.items()],
                         ["value"])

    def actions(self, tenant: str, statuses: Iterable[str] | None = None) -> list[ActionRow]:
        a = s.actions.c
        stmt = sa.select(a.key, a.lead_id, a.threshold, a.kind, a.seq, a.payload, a.status, a.attempts, a.result,
                         a.finished_at).where(a.tenant == tenant)
        if statuses is not None:
            stmt = stmt.where(a.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(a.planned_at, a.lead_id, a.seq)).all()
        return [ActionRow(r[0], r[1], r[2], r[3], int(r[4]), dict(r[5]), r[6], int(r[7]), r[8], r[9]) for r in rows]

    def mark_action(self, key: str, status: str, now: datetime, result: str | None = None,
                    reset_attempts: bool = False) -> None:
        """Record an action's progress: ``running`` before the call, then ``done``, ``retry`` (a later run
        tries again), ``parked`` (out of attempts), ``failed``, ``uncertain`` or ``dropped``."""
        a = s.actions.c
        values: dict[str, Any] = {"status": status, "result": None if result is None else result[:2000]}
        if status == "running":
            values.update(started_at=now, attempts=a.attempts + 1)
        else:
            values["finished_at"] = now
        if reset_attempts:
            values["attempts"] = 0
        with self.engine.begin() as conn:
            conn.execute(s.actions.update().where(a.key == key).values(**values))

    # ---- small keyed values (round-robin counters, ...) -----------------------------------
    def get_kv(self, tenant: str, prefix: str = "") -> dict[str, Any]:
        k = s.kv.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(k.key, k.value).where(k.tenant == tenant, k.key.startswith(prefix))).all()
        return {r[0]: r[1] for r in rows}

    # ---- runs -----------------------------------------------------------------------------
    def start_run(self, tenant: str, run_id: str, now: datetime) -> None:
        """Record a run as started. Called under the tenant's lock, so any other run of the tenant still
        marked running was killed before it could finish: it is marked ``interrupted``."""
        r = s.runs.c
        with self.engine.begin() as conn:
            conn.execute(s.runs.update().where(r.tenant == tenant, r.status == "running")
                         .values(status="interrupted", finished_at=now))
            conn.execute(s.runs.insert().values(id=run_id, tenant=tenant, started_at=now, status="running"))

    def finish_run(self, run_id: str, status: str, summary: Mapping[str, Any], now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(s.runs.update().where(s.runs.c.id == run_id).values(
                status=status, finished_at=now, summary=json.loads(json.dumps(summary, default=str))))

    def last_runs(self, tenant: str, limit: int = 5) -> list[dict[str, Any]]:
        r = s.runs.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(s.runs).where(r.tenant == tenant).order_by(r.started_at.desc())
                                .limit(limit)).mappings().all()
        return [dict(x) for x in rows]


_NUMERIC = {"employees", "annual_revenue"}
_EVENT_COLUMNS = ("lead_id", "type", "occurred_us", "url", "form", "campaign", "email_id", "duration_seconds")


def _micros(us: int) -> timedelta:
    return timedelta(microseconds=int(us))


_STAGE_FIELDS = ("lifecycle_stage", "lead_status")


def _lead_rows(tenant: str, records: Sequence[Lead]) -> list[dict[str, Any]]:
    return [{"tenant": tenant, "id": r.id, "email": r.email, "account_id": r.account_id, "owner_id": r.owner_id,
             "updated_at": r.updated_at, "payload": _payload(r)} for r in records]


def _account_rows(tenant: str, records: Sequence[Account]) -> list[dict[str, Any]]:
    return [{"tenant": tenant, "id": r.id, "name": r.name, "domain": r.domain, "updated_at": r.updated_at,
             "payload": _payload(r)} for r in records]


def _flatten(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as the engine sees it: custom fields beside the canonical ones."""
    row = {k: v for k, v in payload.items() if k != "custom"}
    for k, v in (payload.get("custom") or {}).items():
        row.setdefault(k, v)
    return row


def _table(rows: list[dict[str, Any]], first: list[str]) -> pa.Table:
    if not rows:
        return pa.table({name: pa.array([], pa.string()) for name in first})
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns = {}
    for name in names:
        values = [r.get(name) for r in rows]
        try:
            column = pa.array(values)
            if name in _NUMERIC:
                column = column.cast(pa.float64())
            columns[name] = column.cast(pa.string()) if pa.types.is_null(column.type) else column
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in a custom field: compare as text
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(columns)


def _must_exist(url: str) -> None:
    """A SQLite store file that is not there is not created by a command that only reads."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return  # reported by create_engine
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") and \
            not Path(parsed.database).exists():
        raise StoreError(f"no store at {redact_url(url)} yet: run `leadscore sync` first (or `leadscore store "
                         "upgrade` to create an empty one)")


def _check_current(conn: Connection, url: str) -> None:
    state = migrations.status(conn)
    if state["newer"] or state["version"] > s.SCHEMA_VERSION:
        raise StoreError(f"the store {redact_url(url)} was written by a newer leadscore (schema "
                         f"{state['revision']}); upgrade leadscore")
    if state["revision"] is None:
        raise StoreError(f"the store {redact_url(url)} has no leadscore tables yet: run `leadscore sync` first")
    if not state["current"]:
        raise StoreError(f"the store {redact_url(url)} is behind (schema {state['revision']}, this leadscore "
                         f"needs {state['head']}): run `leadscore store upgrade`, or let the next sync do it")


def _sqlite_busy(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(exc.orig)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (``leadscore queue``) run beside a sync; busy_timeout waits out short locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL takes a lock too, and must wait for it
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

