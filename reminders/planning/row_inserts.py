"""Insert a re-plan's new outbox rows in one statement, in order, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, insert, text
from sqlmodel import Session

from reminders.models import MESSAGES, stored_utc


def insert_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new outbox rows (all with the same keys) in one statement, in the given order."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        # One executemany: building ORM objects costs more than the SQL.
        session.execute(insert(MESSAGES), list(rows))
        return
    document = json.dumps(rows, default=json_time, separators=(",", ":"))
    session.execute(json_insert(tuple(rows[0])), {"rows": document})


@functools.cache
def json_insert(names: tuple[str, ...]) -> TextClause:
    """PostgreSQL: one INSERT of the rows as one JSON document.

    Cheaper than psycopg's row-by-row executemany or its Python array dumper: json.dumps is C.
    Times are stored as naive UTC, as UTCDateTime stores them.
    """
    columns = ", ".join(names)
    return text(
        f"INSERT INTO {MESSAGES.name} ({columns}) SELECT {columns} "
        f"FROM json_populate_recordset(NULL::{MESSAGES.name}, CAST(:rows AS json)) "
        "WITH ORDINALITY AS new ORDER BY new.ordinality"
    )


# A plan's 65 times are about 25 distinct ones (created_at, updated_at, due and retry times
# repeat), and formatting each cost more than the rest of the JSON document.
@functools.lru_cache(maxsize=4096)
def json_time(value: datetime) -> str:
    """A time in a JSON document of rows, in UTC: stored naive, as UTCDateTime stores it."""
    if value.tzinfo is UTC:
        # PostgreSQL drops the "+00:00" when it reads the text as a timestamp without time
        # zone, so the planner's and the clock's UTC times need no conversion.
        return value.isoformat()
    return stored_utc(value).isoformat()
