"""The event store: cameras, their health, events and per-minute statistics.

SQLite (WAL) is the embedded default; PostgreSQL is used by giving its URL. The schema is
created and upgraded by Alembic migrations (``migrations/``), never by ``create_all``.
"""

from affectlens.store import accounts as _accounts  # noqa: F401 (its tables join Base.metadata)
from affectlens.store.db import Store, migrate

__all__ = ["Store", "migrate"]
