"""Alembic migrations of the event store (run by affectlens.store.migrate)."""
