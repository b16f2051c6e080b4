"""Issue 14: where a fall's person lay (``events.x``, ``events.y``, pixels of the camera's
analysed frame), so that the camera's next worker run, after a restart, holds them down at
that place and ends the fall and long lie only when it sees them up there
(``FallRule.adopt``). NULL for other kinds and for events stored before: such an adopted
event ends only when someone seen there gets up, never by itself.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("x", sa.Float(), nullable=True))
        batch.add_column(sa.Column("y", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("y")
        batch.drop_column("x")
