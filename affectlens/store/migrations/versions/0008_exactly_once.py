"""Issue 14: events stored exactly once, alerts through an outbox.

``events.key`` (unique) holds the name the camera worker gave each event, so that a message
handled again stores nothing new; events already stored are given ``legacy:<id>``.
``alert_outbox`` holds the alerts to send, written with their event; ``count_batches`` the
minute counts already added, by worker run and sequence number. Downgrading drops the keys,
the outbox (sent or not) and the batch ledger; every other row stays.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("key", sa.String(200), nullable=True))
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("key", sa.String))
    op.execute(events.update().values(
        key=sa.literal("legacy:") + sa.cast(events.c.id, sa.String(20))))
    with op.batch_alter_table("events") as batch:
        batch.alter_column("key", existing_type=sa.String(200), nullable=False)
        batch.create_unique_constraint("uq_events_key", ["key"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(220), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_alert_outbox_key"),
    )
    op.create_index("ix_alert_outbox_done", "alert_outbox", ["done_at"])
    op.create_index("ix_alert_outbox_event", "alert_outbox", ["event_id"])
    op.create_table(
        "count_batches",
        sa.Column("run", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run", "seq"),
    )
    op.create_index("ix_count_batches_stored", "count_batches", ["stored_at"])


def downgrade() -> None:
    op.drop_index("ix_count_batches_stored", "count_batches")
    op.drop_table("count_batches")
    op.drop_index("ix_alert_outbox_event", "alert_outbox")
    op.drop_index("ix_alert_outbox_done", "alert_outbox")
    op.drop_table("alert_outbox")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_key", type_="unique")
        batch.drop_column("key")
