"""Alembic environment: migrates the engine handed over by reminders.migration, or settings'."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import reminders.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from reminders.config import load_settings
from reminders.db import make_engine

config = context.config
engine = config.attributes.get("engine") or make_engine(load_settings().effective_database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
