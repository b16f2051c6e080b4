"""Per-minute ``people``: distinct tracks seen in the minute (rows before it count 0).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("minute_stats") as batch:
        batch.add_column(sa.Column("people", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("minute_stats") as batch:
        batch.drop_column("people")
