"""Run Alembic migrations programmatically, so `reminders db upgrade` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

SCRIPT_LOCATION = str(Path(__file__).parent / "migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that migrates through the given engine."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to a revision (default: the newest)."""
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    """The newest revision the code ships."""
    script = ScriptDirectory(SCRIPT_LOCATION)
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has none."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
