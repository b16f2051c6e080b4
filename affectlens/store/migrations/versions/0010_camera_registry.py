"""Issue 14: one camera registry. Each camera gets ``slug``, its key for good (made from its
name as it is now: ``Room 12`` -> ``room-12``, ``-2``... when two names make one slug), and
its settings as columns: ``falls`` and ``distress`` (JSON; the service validates them) and
``site_seed`` (what the site config last set on it).

Every camera keeps its id, name, zones, events, health and counts. Fall and distress settings
lived only in the site config until now: ``site_seed`` starts empty, so the first start after
the upgrade writes each declared camera's settings from the file into its row before any
worker starts; the file's cameras are found by the slug of their name, which is the slug
made here. Downgrading drops the columns (the settings live in the file again); every row
stays.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The service's own rule, not a copy: the site config finds its cameras by the slug this
# rule makes of their names, so the two must agree.
from affectlens.store.db import slugify, unique_slug

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("slug", sa.String(64), nullable=True))
        batch.add_column(sa.Column("falls", sa.Text(), nullable=True))
        batch.add_column(sa.Column("distress", sa.Text(), nullable=True))
        batch.add_column(sa.Column("site_seed", sa.Text(), nullable=True))
    connection = op.get_bind()
    taken: set[str] = set()
    for camera_id, name in connection.execute(
            sa.text("SELECT id, name FROM cameras ORDER BY id")).all():
        slug = unique_slug(slugify(name), taken)
        taken.add(slug)
        connection.execute(sa.text("UPDATE cameras SET slug = :slug WHERE id = :id"),
                           {"slug": slug, "id": camera_id})
    with op.batch_alter_table("cameras") as batch:
        batch.alter_column("slug", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_cameras_slug", ["slug"])


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_constraint("uq_cameras_slug", type_="unique")
        for column in ("site_seed", "distress", "falls", "slug"):
            batch.drop_column(column)
