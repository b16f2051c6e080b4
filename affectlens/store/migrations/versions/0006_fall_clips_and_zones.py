"""Issue 5: ``events.clip`` (the blurred video of the seconds around a fall, a relative path
like ``snapshot``) and ``cameras.zones`` (bed, chair and floor polygons drawn in the
dashboard, as JSON; NULL: none drawn, the site config's zones apply).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("clip", sa.String(500), nullable=True))
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("zones", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("zones")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("clip")
