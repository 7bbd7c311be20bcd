"""lead_stages: when each lead reached each lifecycle stage and lead status

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import context, op

from connector.store import schema as s

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    s._stage_log(conn)
    conn.execute(s.schema_migrations.insert().values(version=2, description=s.MIGRATIONS[1].description,
                                                     applied_at=context.config.attributes["now"]))


def downgrade() -> None:
    raise NotImplementedError("the store does not downgrade; restore a backup instead")
