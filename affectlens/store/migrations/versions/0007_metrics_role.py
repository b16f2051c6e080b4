"""A ``metrics`` role for Prometheus scrapers: their API token reads ``/metrics`` and
nothing else, instead of needing an admin's.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BEFORE = "('admin', 'staff', 'auditor', 'screen')"
AFTER = "('admin', 'staff', 'auditor', 'screen', 'metrics')"
CHECKS = (("users", "user_role_known"), ("api_tokens", "token_role_known"))


def _roles(allowed: str) -> None:
    for table, name in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
            batch.create_check_constraint(name, f"role IN {allowed}")


def upgrade() -> None:
    _roles(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM login_sessions WHERE user_id IN "
               "(SELECT id FROM users WHERE role = 'metrics')")
    op.execute("DELETE FROM users WHERE role = 'metrics'")
    op.execute("DELETE FROM api_tokens WHERE role = 'metrics'")
    _roles(BEFORE)
