"""Alembic environment: migrations run from ``affectlens.store.migrate(url)``."""

from __future__ import annotations

from alembic import context

from affectlens.store.db import make_engine
from affectlens.store.schema import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
