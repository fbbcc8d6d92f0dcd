"""Migrations: from empty to head, and the models match what the migrations build."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import reminders.models  # noqa: F401
from reminders.db import DatabaseNotMigratedError, make_engine, require_migrated
from reminders.migration import current_revision, head_revision


def test_upgrade_from_empty_reaches_head_with_every_table(any_engine: Engine) -> None:
    assert current_revision(any_engine) == head_revision()
    tables = set(inspect(any_engine).get_table_names())
    assert {"clinic", "patient", "treatment", "message", "webhookreceipt"} <= tables


def test_autogenerate_finds_no_difference_between_models_and_migrations(
    any_engine: Engine,
) -> None:
    with any_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_an_unmigrated_database_names_the_command_to_run(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseNotMigratedError, match="reminders db upgrade"):
        require_migrated(engine)
