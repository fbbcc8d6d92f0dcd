"""Dispatching: batches go to the queue; a broker outage loses nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reminders.models import MESSAGES
from reminders.outbox.claim import release_claims
from reminders.outbox.dispatch import BrokerUnavailableError, EnqueueError, dispatch_due
from tests.outbox_helpers import due_rows


def count(engine: Engine, status: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(MESSAGES.c.status == status)
        return int(connection.execute(query).scalar_one())


def clock() -> datetime:
    return datetime.now(UTC)


def test_due_rows_are_handed_over_in_batches_of_the_configured_size(engine: Engine) -> None:
    release_claims(engine, due_rows(engine, count=25), clock())
    batches: list[list[int]] = []
    total = dispatch_due(
        engine, lambda ids: batches.append(list(ids)), clock, "d1", 10, timedelta(minutes=2)
    )
    assert total == 25 and [len(batch) for batch in batches] == [10, 10, 5]
    assert count(engine, "claimed") == 25


def test_a_broker_outage_releases_the_claims_and_says_so(engine: Engine) -> None:
    release_claims(engine, due_rows(engine, count=3), clock())

    def refuse(_ids: Sequence[int]) -> None:
        raise EnqueueError("connection refused")

    with pytest.raises(BrokerUnavailableError, match="stay pending"):
        dispatch_due(engine, refuse, clock, "d1", 10, timedelta(minutes=2))
    assert count(engine, "pending") == 3 and count(engine, "claimed") == 0


def test_the_dispatch_command_with_redis_down_fails_clearly_and_loses_nothing(
    engine: Engine, database_url: str, tmp_path, key_prefix: str
) -> None:
    import subprocess

    from tests.harness import BIN, service_env

    release_claims(engine, due_rows(engine, count=3), clock())
    env = service_env(database_url, "redis://127.0.0.1:1/0", key_prefix, tmp_path)
    result = subprocess.run(
        [str(BIN / "reminders"), "dispatch"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "could not enqueue 3 due messages" in result.stderr
    assert count(engine, "pending") == 3
