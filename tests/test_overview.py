"""The overview's numbers against a database and a Redis queue prepared here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.ops.overview import ChannelDay, build_overview
from reminders.outbox import lifecycle as lc
from tests.opsdata import NOW, Outbox


@pytest.fixture
def client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(f"{key_prefix}*"):
        client.delete(key)


def test_overview_counts_queue_backlog_lag_last_day_and_failures(
    engine: Engine, client: redis.Redis, key_prefix: str
) -> None:
    client.rpush(f"{key_prefix}reminders", "task-1", "task-2", "task-3")
    client.rpush("otherprefix:reminders", "not ours")
    box = Outbox(engine)
    box.add(lc.PENDING, due_at=NOW - timedelta(minutes=10))  # overdue: lag 600 s
    box.add(lc.PENDING, due_at=NOW - timedelta(minutes=2))
    box.add(lc.PENDING, due_at=NOW + timedelta(hours=3))  # not due yet
    box.add(lc.SENT, sent_at=NOW - timedelta(hours=2))
    box.add(lc.SENT, sent_at=NOW - timedelta(hours=30))  # older than a day
    box.add(lc.DELIVERED, "email", sent_at=NOW - timedelta(hours=3), delivered_at=NOW)
    box.add(lc.FAILED, last_error="21610 unsubscribed recipient")
    box.add(lc.DEAD, last_error="21610 unsubscribed recipient")
    box.add(lc.UNKNOWN, "email", last_error="timeout after send")
    box.add(lc.FAILED, updated_at=NOW - timedelta(days=3), last_error="old")

    with Session(engine) as session:
        o = build_overview(session, client, key_prefix, NOW, ping=lambda: ["w1@host"])

    assert o.queue_depths == {"reminders": 3}
    assert o.workers == ["w1@host"]
    assert o.due_backlog == 2
    assert o.lag_seconds == 600
    assert o.last_day == [
        ChannelDay("email", sent=1, delivered=1, failed=0),
        ChannelDay("sms", sent=1, delivered=0, failed=2),
    ]
    assert o.failures_last_day == 2
    assert o.top_failures == [("21610 unsubscribed recipient", 2), ("timeout after send", 1)]
    assert o.problems == {lc.FAILED: 2, lc.DEAD: 1, lc.UNKNOWN: 1}


def test_an_empty_system_has_no_lag_and_an_unreachable_redis_shows_as_unknown_depth(
    engine: Engine, key_prefix: str
) -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    with Session(engine) as session:
        o = build_overview(session, down, key_prefix, NOW)
    assert o.queue_depths == {"reminders": None}
    assert o.workers is None and o.lag_seconds == 0 and o.due_backlog == 0


def test_messages_the_console_printed_are_counted_apart_per_clinic(
    engine: Engine, client: redis.Redis, key_prefix: str
) -> None:
    a, b = Outbox(engine, "clinic-a", "p-a"), Outbox(engine, "clinic-b", "p-b")
    sent = dict(sent_at=NOW - timedelta(hours=1))
    a.add(lc.SENT, provider_id="console-1", **sent)
    a.add(lc.SENT, "email", provider_id="console-2", **sent)
    a.add(lc.SENT, provider_id="SM0123", **sent)  # Twilio took it
    b.add(lc.SENT, provider_id="console-3", **sent)
    with Session(engine) as session:
        only_a = build_overview(session, client, key_prefix, NOW, None, {"clinic-a"})
        every = build_overview(session, client, key_prefix, NOW, None, None)
    assert only_a.last_day == [
        ChannelDay("email", sent=1, printed=1),
        ChannelDay("sms", sent=2, printed=1),
    ]
    assert [(c.channel, c.printed) for c in every.last_day] == [("email", 1), ("sms", 2)]
