"""Alembic environment: migrations run from ``affectlens.store.migrate(url)``."""

from __future__ import annotations

from alembic import context

from affectlens.store.db import make_engine
from affectlens.store.schema import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run() -> None:
    # Foreign keys off on SQLite: its table rebuilds would otherwise cascade-delete every row
    # that refers to a rebuilt table (make_engine). They are checked once all migrations ran.
    engine = make_engine(url, foreign_keys=False)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,  # SQLite cannot ALTER much
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migrations left rows that refer to nothing: {broken}")
    engine.dispose()


run()
