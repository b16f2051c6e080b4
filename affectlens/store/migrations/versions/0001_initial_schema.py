"""Initial schema: cameras, camera health, events, per-minute counts.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 04:27:05.988552
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("analysis_fps", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('care_safety', 'consented_research', 'anonymous_statistics')",
            name="purpose_known",
        ),
        sa.CheckConstraint("analysis_fps > 0", name="analysis_fps_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "camera_health",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("camera_health", schema=None) as batch_op:
        batch_op.create_index("ix_camera_health_camera_at", ["camera_id", "at"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("snapshot", sa.String(length=500), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_is_probability"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_camera_started", ["camera_id", "started_at"], unique=False)
        batch_op.create_index("ix_events_kind_started", ["kind", "started_at"], unique=False)

    op.create_table(
        "minute_stats",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("n_angry", sa.Integer(), nullable=False),
        sa.Column("n_disgust", sa.Integer(), nullable=False),
        sa.Column("n_fear", sa.Integer(), nullable=False),
        sa.Column("n_happy", sa.Integer(), nullable=False),
        sa.Column("n_neutral", sa.Integer(), nullable=False),
        sa.Column("n_sad", sa.Integer(), nullable=False),
        sa.Column("n_surprise", sa.Integer(), nullable=False),
        sa.Column("n_uncertain", sa.Integer(), nullable=False),
        sa.Column("n_age_0_12", sa.Integer(), nullable=False),
        sa.Column("n_age_13_19", sa.Integer(), nullable=False),
        sa.Column("n_age_20_34", sa.Integer(), nullable=False),
        sa.Column("n_age_35_49", sa.Integer(), nullable=False),
        sa.Column("n_age_50_64", sa.Integer(), nullable=False),
        sa.Column("n_age_65_plus", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id", "minute"),
    )


def downgrade() -> None:
    op.drop_table("minute_stats")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_kind_started")
        batch_op.drop_index("ix_events_camera_started")

    op.drop_table("events")
    with op.batch_alter_table("camera_health", schema=None) as batch_op:
        batch_op.drop_index("ix_camera_health_camera_at")

    op.drop_table("camera_health")
    op.drop_table("cameras")
