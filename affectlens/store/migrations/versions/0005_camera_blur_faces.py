"""Per-camera ``blur_faces`` (issue 6): true for every existing camera, so nothing that was
blurred stops being blurred; only an admin turns it off, and that change is audited.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 07:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("blur_faces", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("blur_faces")
