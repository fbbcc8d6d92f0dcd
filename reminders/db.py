"""Engine and session helpers: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from reminders.errors import SetupError

MIGRATE_HINT = "run `reminders db upgrade` (or `make up`, which migrates first)"


class DatabaseNotMigratedError(SetupError):
    """The schema is missing or behind; the message says which command fixes it."""


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so processes can share the file."""
    # hide_parameters: a failing statement's log line or traceback must not quote a patient's
    # phone, email or name (bound parameters), only the SQL.
    if url.startswith("sqlite:///"):
        create_private_file(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
        )
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


def create_private_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600, its directory 0700 when new) before SQLite does."""
    if str(path) in ("", ":memory:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _tune_sqlite(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def require_migrated(engine: Engine) -> None:
    """Fail fast, naming the fix, when the database has not been migrated to head."""
    from reminders.migration import current_revision, head_revision

    if not inspect(engine).has_table("alembic_version"):
        raise DatabaseNotMigratedError(f"the database has no schema yet: {MIGRATE_HINT}")
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotMigratedError(
            f"the database is at revision {current}, the code expects {head}: {MIGRATE_HINT}"
        )
