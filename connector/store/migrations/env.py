"""Alembic's environment for the store: always on the connection :func:`upgrade` passes in."""

from __future__ import annotations

from alembic import context

from connector.store import schema as s
from connector.store.migrations import _legacy_version, revision_of

conn = context.config.attributes["connection"]
context.configure(connection=conn, target_metadata=s.metadata, render_as_batch=True,
                  transaction_per_migration=False)
with context.begin_transaction():
    migration = context.get_context()
    legacy = _legacy_version(conn)
    if migration.get_current_revision() is None and legacy:  # a store from before Alembic
        migration.stamp(context.script, revision_of(legacy))
    context.run_migrations()
