"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from __future__ import annotations

from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rebuilds a table to change a column: with op.batch_alter_table("table") as batch: ...
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise NotImplementedError("the store does not downgrade; restore a backup instead")
