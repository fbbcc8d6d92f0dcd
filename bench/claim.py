"""Time to claim and enqueue 1,000 due rows with 10,000 vs 1,000,000 future rows (PostgreSQL)."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.common import REDIS_URL, Database, copy_messages, save, seed_people
from reminders.config import load_settings
from reminders.outbox.dispatch import dispatch_due
from workers.application import make_celery

DUE, SMALL, LARGE, RUNS, PATIENTS = 1_000, 10_000, 1_000_000, 7, 1_000


def clock() -> datetime:
    return datetime.now(UTC)


def measure(engine: Engine, prefix: str) -> float:
    """Median seconds to claim the due rows and put their send tasks on Redis."""
    app = make_celery(load_settings(redis_url=REDIS_URL, redis_key_prefix=prefix))
    client = redis.Redis.from_url(REDIS_URL)
    timings = []
    for _ in range(RUNS):
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE message SET status = 'pending', lease_owner = NULL,"
                    " lease_expires_at = NULL WHERE status = 'claimed'"
                )
            )
        client.delete(f"{prefix}reminders")
        started = time.perf_counter()
        claimed = dispatch_due(
            engine,
            lambda ids: app.send_task("reminders.send_message", args=[list(ids)]),
            clock,
            "bench",
            100,
            timedelta(minutes=2),
        )
        timings.append(time.perf_counter() - started)
        assert claimed == DUE, claimed
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    return statistics.median(timings)


def main() -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    with Database() as database:
        engine, db = database.engine, database.dsn()
        seed_people(db, PATIENTS)
        now = datetime.now(UTC)
        copy_messages(db, DUE, now - timedelta(minutes=1), PATIENTS, "due")
        copy_messages(db, SMALL, now + timedelta(days=20), PATIENTS, "future-a")
        small = measure(engine, prefix)
        copy_messages(db, LARGE - SMALL, now + timedelta(days=40), PATIENTS, "future-b")
        large = measure(engine, prefix)
    ratio = large / small
    save(
        "claim",
        {
            "due_rows": DUE,
            "seconds_with_10k_future": round(small, 4),
            "seconds_with_1m_future": round(large, 4),
            "ratio": round(ratio, 3),
            "target_ratio_at_most": 1.2,
        },
        f"claim+enqueue {DUE} due rows: {small * 1000:.0f} ms with 10k future rows, "
        f"{large * 1000:.0f} ms with 1M (ratio {ratio:.2f}, target <= 1.2)",
    )


if __name__ == "__main__":
    main()
