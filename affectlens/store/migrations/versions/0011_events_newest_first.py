"""Issue 17: the event feed's newest-first page is read from an index, not a sort.

``GET /api/events`` (and the dashboard's feed) orders every event by ``started_at`` and ``id``,
newest first, and takes a page. Without a filter no index covered that order, so each request
read and sorted the whole table: 2.5 ms of CPU a request at 20,000 events on SQLite, 0.5 ms
with this index (benchmarks/api_load.py). Downgrading drops the index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_started", "events", ["started_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_started", "events")
