"""Alembic environment: migrates the engine handed over by reminders.migration, or settings'."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import reminders.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from reminders.config import load_settings
from reminders.db import make_engine

config = context.config
engine = config.attributes.get("engine") or make_engine(load_settings().effective_database_url)


def sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite: batch mode alters a table by copying it and dropping the old one, which fails
    while other rows point at it; migrations run without the check, verified at the end."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        connection.commit()


with engine.connect() as connection:
    sqlite_foreign_keys(connection, on=False)  # a no-op inside a transaction: before it
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=SQLModel.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        sqlite_foreign_keys(connection, on=True)
