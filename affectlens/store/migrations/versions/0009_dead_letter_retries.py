"""Issue 17: dead letters are retried, and kept with what became of them.

A dead letter gets a ``status`` (``retrying``, ``delivered``, ``failed``), when it is next
tried (``next_attempt_at``; empty: its first retry waits from ``created_at``), how many
retries failed (``retries``), when it was finished (``done_at``) and when an admin last
replayed it (``replayed_at``). Letters kept before this migration are retried like new ones
(``retrying``): none was ever sent again, and none is dropped unseen. Downgrading drops the
columns; every row stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                   server_default="retrying"))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("done_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("replayed_at", sa.DateTime(timezone=True)))
    op.create_index("ix_dead_letters_status", "dead_letters", ["status"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_status", "dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        for column in ("replayed_at", "done_at", "retries", "next_attempt_at", "status"):
            batch.drop_column(column)
