"""Operator surfaces at a small and a large `message` table, and retention's speed.

    .venv/bin/python -m bench.history [--small 20000] [--large 10000000] [--repeats 15]

Each size gets its own PostgreSQL database, built with set-based SQL (generate_series) and
dropped afterwards. Both hold the same live work (pending, due, problem rows, the last day's
sends); the large one only has more finished history, as a service does after a year. Every
surface is timed in-process over HTTP (FastAPI's TestClient), median and spread of repeats;
the worker ping is replaced by an empty answer, since it is a fixed broker timeout that does
not depend on the table. Results go to bench/results/history.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from fastapi.testclient import TestClient
from sqlmodel import Session

from bench.common import REDIS_URL, Database, save
from reminders.api.app import create_app
from reminders.config import load_settings
from reminders.models import MESSAGES
from reminders.ops import overview, retention
from reminders.ops.listing import MessageFilter, find_messages

TOKEN = "bench-operator-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CLINICS = 10
LIVE = 4065  # pending (2,000 ahead, 20 due), 45 problems, 2,000 finished in the last day
UNFOLDED = 100  # recently finished rows beat has not folded into the tally yet

PEOPLE = """
INSERT INTO clinic (id, name, phone, email, booking_url, address, default_region, locale,
    window_start, window_end, sms_per_day, sms_per_week, protocol, protocol_overrides,
    webhook_secret, previous_webhook_secret, created_at)
SELECT 'c' || c, 'Clinic ' || c, '', '', '', '', 'US', 'en', '08:00', '20:00', 1, 3,
    'microneedling', '{}', '', '', now() FROM generate_series(0, %(clinics)s - 1) c;
INSERT INTO patient (id, clinic_id, external_id, first_name, phone, email, timezone, locale,
    consent_sms, consent_email, created_at, updated_at)
SELECT t, 'c' || (t %% %(clinics)s), 'p' || t, 'Ana', '+1555' || lpad(t::text, 7, '0'), NULL,
    'UTC', 'en', true, false, now(), now() FROM generate_series(1, %(treatments)s) t;
INSERT INTO treatment (id, clinic_id, patient_id, external_id, ended_at, area, session_number,
    sessions_planned, created_at, updated_at)
SELECT t, 'c' || (t %% %(clinics)s), t, 't' || t, now(), 'face', 1, 1, now(), now()
    FROM generate_series(1, %(treatments)s) t;
SELECT setval('patient_id_seq', %(treatments)s), setval('treatment_id_seq', %(treatments)s);
"""

# Ten rows per treatment; the first LIVE rows are the live work, the rest finished history
# spread over three years (a treatment's rows share one time, as a finished course does).
MESSAGES_SQL = """
INSERT INTO message (id, idempotency_key, clinic_id, patient_id, treatment_id, step_key,
    channel, status, due_at, next_attempt_at, attempts, provider_id, protocol_version,
    sent_at, delivered_at, created_at, updated_at, template_version, last_error,
    tally_status, tally_day)
SELECT g, t || ':s' || (g %% 10) || ':' || ch, 'c' || (t %% %(clinics)s), t, t,
    'step_' || (g %% 10), ch, st, due, CASE WHEN st = 'pending' THEN due END, 1,
    CASE WHEN st IN ('sent', 'delivered') THEN 'SM' || g END, 'bench',
    CASE WHEN st IN ('sent', 'delivered') THEN upd END,
    CASE WHEN st = 'delivered' THEN upd END, upd - interval '30 days', upd, '',
    CASE WHEN st IN ('failed', 'dead', 'unknown') THEN 'error ' || (g %% 3) END,
    CASE WHEN folded THEN st END, CASE WHEN folded THEN (upd AT TIME ZONE 'UTC')::date END
FROM (
    SELECT g, t, ch, st, upd,
        CASE WHEN g <= 2000 THEN now() + (g %% 720) * interval '1 hour'
             WHEN g <= 2020 THEN now() - interval '5 minutes'
             ELSE upd - interval '1 hour' END AS due,
        st IN ('sent', 'delivered', 'cancelled', 'skipped') AND g > 2065 + %(unfolded)s
            AS folded
    FROM (
        SELECT g, (g - 1) / 10 + 1 AS t,
            CASE WHEN g %% 2 = 0 THEN 'sms' ELSE 'email' END AS ch,
            CASE WHEN g <= 2020 THEN 'pending' WHEN g <= 2050 THEN 'failed'
                 WHEN g <= 2060 THEN 'dead' WHEN g <= 2065 THEN 'unknown'
                 WHEN g <= 4065 THEN (ARRAY['sent', 'delivered'])[g %% 2 + 1]
                 ELSE (ARRAY['delivered', 'sent', 'cancelled', 'skipped', 'delivered'])
                      [g %% 5 + 1] END AS st,
            CASE WHEN g <= 2020 THEN now() - interval '1 hour'
                 WHEN g <= 2065 THEN now() - (g %% 72) * interval '1 hour'
                 WHEN g <= 4065 THEN now() - (g %% 1380) * interval '1 minute'
                 ELSE now() - interval '2 days'
                      - (((g - 1) / 10)::bigint * 7919 %% 26280) * interval '1 hour' END AS upd
        FROM generate_series(1, %(rows)s) g
    ) a
) b;
SELECT setval('message_id_seq', %(rows)s);
INSERT INTO messagetally (clinic_id, channel, status, day, count)
SELECT clinic_id, channel, tally_status, tally_day, count(*) FROM message
WHERE tally_status IS NOT NULL GROUP BY 1, 2, 3, 4;
INSERT INTO messagetotal (clinic_id, channel, status, count)
SELECT clinic_id, channel, status, sum(count) FROM messagetally GROUP BY 1, 2, 3;
"""


def script(conn: psycopg.Connection[Any], sql: str, params: dict[str, int]) -> None:
    """Run a few statements, one at a time (a parameterised statement must be alone)."""
    for statement in sql.split(";\n"):
        if statement.strip():
            conn.execute(statement, params)


def build(db: Database, rows: int) -> float:
    """Fill the database set-based: message indexes dropped during the load, then rebuilt."""
    started = time.perf_counter()
    indexes = list(MESSAGES.indexes)
    params = {"clinics": CLINICS, "treatments": -(-rows // 10), "rows": rows}
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        script(conn, PEOPLE, params)
        for index in indexes:
            conn.execute(f"DROP INDEX {index.name}")
        conn.execute("SET session_replication_role = replica")  # no FK checks on the load
        conn.execute("SET maintenance_work_mem = '512MB'")
        script(conn, MESSAGES_SQL, {**params, "unfolded": UNFOLDED})
    with db.engine.begin() as connection:
        for index in indexes:
            index.create(connection)
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - started


def spread(times: list[float]) -> dict[str, float]:
    """Median and spread (min, max) in milliseconds."""
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
    }


def clock_ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def later_cursor(db: Database, rows: int) -> str:
    """The cursor of a page half-way down the default ordering (found once, not timed)."""
    with psycopg.connect(db.dsn()) as conn:
        found = conn.execute(
            "SELECT due_at, id FROM message ORDER BY due_at DESC, id DESC OFFSET %s LIMIT 1",
            (rows // 2,),
        ).fetchone()
    assert found is not None
    due = found[0].replace(tzinfo=UTC)
    return f"{due:%Y%m%dT%H%M%S.%f}_{found[1]}"


def ok(client: TestClient, path: str) -> Callable[[], None]:
    def call() -> None:
        response = client.get(path, headers=BEARER)
        assert response.status_code == 200, (path, response.status_code)

    return call


Surfaces = dict[str, Callable[[], None]]


@contextmanager
def surfaces(db: Database, rows: int) -> Iterator[Surfaces]:
    """A call per surface on this database."""
    settings = load_settings(
        database_url=db.url, redis_url=REDIS_URL, operator_token=TOKEN, redis_key_prefix="bh:"
    )
    client = redis.Redis.from_url(REDIS_URL)
    later = later_cursor(db, rows)
    with TestClient(create_app(settings)) as http:
        ops = http.app.state.ops  # type: ignore[attr-defined]
        http.app.state.ops = dataclasses.replace(ops, ping=lambda: [])  # type: ignore[attr-defined]

        def status() -> None:
            with Session(db.engine) as session:
                overview.build_overview(session, client, "bh:", datetime.now(UTC))

        yield {
            "/metrics": ok(http, "/metrics"),
            "/ops": ok(http, "/ops"),
            "/ops/messages": ok(http, "/ops/messages"),
            "/ops/messages later page": ok(http, f"/ops/messages?after={later}"),
            "/ops/messages?status=delivered&clinic=c3": ok(
                http, "/ops/messages?status=delivered&clinic=c3"
            ),
            "/ops/messages?patient=p7&order=due": ok(http, "/ops/messages?patient=p7&order=due"),
            "/ops/problems": ok(http, "/ops/problems"),
            "reminders status": status,
            "/readyz": ok(http, "/readyz"),
        }


def measure(small: Surfaces, large: Surfaces, repeats: int) -> dict[str, dict[str, Any]]:
    """Each surface at both sizes, turn about, so both meet the same moment of the machine."""
    times: dict[str, dict[str, list[float]]] = {}
    for name in small:
        for call in (small[name], large[name], small[name], large[name]):
            call()  # warm-up: plans cached, pages in memory
        both = times.setdefault(name, {"small": [], "large": []})
        for _ in range(repeats):
            both["small"].append(clock_ms(small[name]))
            both["large"].append(clock_ms(large[name]))
    return {
        name: {size: spread(found) for size, found in both.items()} for name, both in times.items()
    }


def retention_speed(db: Database, budget: float) -> dict[str, float]:
    """Rows retention moves per second, for up to `budget` seconds."""
    started = time.perf_counter()
    moved = 0
    steps = retention.run(
        lambda: Session(db.engine), lambda: datetime.now(UTC), "bench", budget=budget
    )
    for _, done in steps:
        moved += done.moved
    seconds = time.perf_counter() - started
    return {"moved": moved, "seconds": round(seconds, 1), "rows_per_second": round(moved / seconds)}


def built(db: Database, rows: int) -> int:
    seconds = build(db, rows)
    print(f"{rows:,} rows built in {seconds:.0f} s", flush=True)
    return round(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--retention-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with Database() as small_db, Database() as large_db:
        build_seconds = {"small": built(small_db, args.small), "large": built(large_db, args.large)}
        with (
            surfaces(small_db, args.small) as small,
            surfaces(large_db, args.large) as large,
        ):
            figures = measure(small, large, args.repeats)
        speed = {
            "small": retention_speed(small_db, args.retention_seconds),
            "large": retention_speed(large_db, args.retention_seconds),
        }
        with Session(large_db.engine) as session:
            assert find_messages(session, MessageFilter()).rows
    ratios = {
        name: round(f["large"]["median_ms"] / max(f["small"]["median_ms"], 0.1), 2)
        for name, f in figures.items()
    }
    print(f"{'surface':42} {'small ms':>9} {'large ms':>9} {'ratio':>6}  large min-max")
    for name, f in figures.items():
        s, b = f["small"], f["large"]
        print(
            f"{name:42} {s['median_ms']:9.1f} {b['median_ms']:9.1f} {ratios[name]:6.2f}"
            f"  {b['min_ms']:.1f}-{b['max_ms']:.1f}"
        )
    print(f"retention: {speed}")
    worst = max(ratios.values())
    slowest = max(f["large"]["median_ms"] for f in figures.values())
    save(
        "history",
        {
            "rows": {"small": args.small, "large": args.large},
            "build_seconds": build_seconds,
            "repeats": args.repeats,
            "surfaces": figures,
            "ratios": ratios,
            "retention": speed,
        },
        f"{args.large:,} vs {args.small:,} rows: worst ratio {worst}, slowest {slowest} ms",
    )


if __name__ == "__main__":
    main()
