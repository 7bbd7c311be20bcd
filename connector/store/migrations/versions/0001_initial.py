"""initial schema: leads, accounts, events, scores, history, cursors, written, outbox, actions,
threshold state, locks, kv, runs

Revision ID: 0001
"""

from __future__ import annotations

from alembic import context, op

from connector.store import schema as s

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    s.schema_migrations.create(conn, checkfirst=True)
    s._initial(conn)
    conn.execute(s.schema_migrations.insert().values(version=1, description=s.MIGRATIONS[0].description,
                                                     applied_at=context.config.attributes["now"]))


def downgrade() -> None:
    raise NotImplementedError("the store does not downgrade; restore a backup instead")
