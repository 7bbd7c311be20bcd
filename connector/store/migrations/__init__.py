"""The store's schema under Alembic: revision scripts in ``versions/``, applied by
:func:`upgrade` on one connection under a lock, so two processes cannot migrate at once.

The lock is PostgreSQL's transaction-scoped advisory lock, or on SQLite the database's write lock
(taken by a write to ``leadscore_migration_lock`` before the current revision is read). Revisions
run in batch mode where a table must be rebuilt (SQLite cannot alter most columns in place):
write ``with op.batch_alter_table("leads") as batch: ...``; ``render_as_batch`` makes Alembic's
autogenerate do the same. Stores made before Alembic (a ``schema_migrations`` table only) are
stamped at their version first.

Each revision also records itself in ``schema_migrations`` (version, description, when), which
the store keeps as its readable history and ``Store.schema_version()`` reads.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import schema as s
from ..errors import StoreError

__all__ = ["HEAD", "upgrade", "status", "revision_of", "LOCK_KEY"]

HERE = Path(__file__).resolve().parent
LOCK_KEY = 0x6C656164  # "lead": the advisory lock every leadscore migration takes


def _config(conn: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def _head() -> str:
    return str(_script().get_current_head())


HEAD = "0002"  # checked against the scripts by the tests


def revision_of(version: int) -> str:
    return f"{version:04d}"


def _legacy_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(s.schema_migrations.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(s.schema_migrations.c.version))).scalar() or 0)


def take_lock(conn: Connection) -> None:
    """Hold the migration lock until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    else:  # a write takes SQLite's database lock; others wait (busy_timeout) until we commit
        raw = conn.connection.dbapi_connection
        if raw is not None and not getattr(raw, "in_transaction", True):
            # BEGIN IMMEDIATE takes the write lock now, waiting for it: a transaction that first reads
            # (CREATE TABLE IF NOT EXISTS finds the table) and then writes cannot wait, and SQLite
            # answers "database is locked" at once when another writer committed meanwhile (WAL)
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS leadscore_migration_lock (id INTEGER)"))
        conn.execute(sa.text("DELETE FROM leadscore_migration_lock"))


def status(conn: Connection) -> dict[str, Any]:
    """Where the store's schema is, without changing anything."""
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(conn).get_current_revision()
    legacy = _legacy_version(conn)
    if current is None and legacy:
        current = revision_of(legacy)
    head = _head()
    known = {r.revision for r in _script().walk_revisions()}
    return {"revision": current, "head": head, "version": legacy, "current": current == head,
            "newer": current is not None and current not in known}


def upgrade(conn: Connection, now: datetime | None = None) -> list[str]:
    """Bring the schema to the newest revision inside the caller's transaction; returns the
    revisions applied. Refuses a store made by a newer leadscore."""
    from alembic import command
    from alembic.util import CommandError

    take_lock(conn)
    before = status(conn)
    if before["version"] > s.SCHEMA_VERSION or before["newer"]:
        raise StoreError(f"the store is at schema version {before['version'] or before['revision']}, newer than "
                         f"this leadscore understands ({s.SCHEMA_VERSION}); upgrade leadscore")
    if before["current"]:
        return []
    cfg = _config(conn)
    cfg.attributes["now"] = now or datetime.now(timezone.utc)
    try:
        command.upgrade(cfg, "head")
    except CommandError as exc:
        raise StoreError(f"cannot upgrade the store's schema: {exc}") from None
    order = [r.revision for r in reversed(list(_script().walk_revisions()))]
    start = order.index(before["revision"]) + 1 if before["revision"] in order else 0
    return order[start:]
