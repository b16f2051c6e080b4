"""Tables for people and programs that use the service, and the audit log (issue 6).

Kept apart from schema.py (cameras, events, statistics) but on the same declarative Base, so
one Alembic history covers both. Nothing here holds a secret in the clear: passwords are
argon2id hashes, session ids and API tokens are SHA-256 digests of random values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from affectlens.store.schema import Base

ROLES = ("admin", "staff", "auditor", "screen", "metrics")
GENESIS_HASH = "0" * 64  # the "previous hash" of the first audit record


class User(Base):
    """A person who logs in to the dashboard. No default user exists: the first admin is
    made with ``affectlens user add``."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="user_role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()


class ApiToken(Base):
    """A bearer token for an integration, scoped to one role; only its digest is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="token_role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class LoginSession(Base):
    """A dashboard login: the cookie holds a random id, the table its digest and the
    session's CSRF token."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()


class LoginThrottle(Base):
    """Failed logins per user name (known or not, so a lockout says nothing about whether
    an account exists) and how long the name is locked."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()


class AuditRecord(Base):
    """One entry of the append-only, hash-chained audit log. ``hash`` covers this record's
    fields and ``prev_hash``, so changing or deleting any record breaks the chain after it.
    ``prev_hash`` is unique: two writers cannot both extend the same record."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))
