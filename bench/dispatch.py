"""End-to-end dispatch throughput and lag, beside plain Celery's one-task-per-message ceiling."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select, text

from bench.common import REDIS_URL, Database, copy_messages, save, seed_people
from bench.processes import (
    BIN,
    celery_worker,
    postgres_cpu_seconds,
    service_env,
    start,
    stop,
    tree_cpu_seconds,
    wait_for,
)
from reminders.config import load_settings
from reminders.models import MESSAGES
from tests.fakes.twilio_remote import start_fake_twilio_process
from workers.application import make_celery

PATIENTS = 20_000


def noop_ceiling(
    env: dict[str, str], prefix: str, count: int, workers: int, workdir: Path
) -> float:
    """Tasks per second when every message is its own Celery task (publish, then drain)."""
    app = make_celery(load_settings(redis_url=REDIS_URL, redis_key_prefix=prefix))
    with app.producer_or_acquire() as producer:
        for n in range(count):
            app.send_task("reminders.noop", args=[n], producer=producer)
    client = redis.Redis.from_url(REDIS_URL)
    log = workdir / "noop-worker.log"
    env = dict(env, REMINDERS_REDIS_KEY_PREFIX=prefix)
    worker = start([*celery_worker(concurrency=workers), "--loglevel", "INFO"], env, log)
    try:
        wait_for(log, "ready.", 60)
        started = time.perf_counter()
        while client.llen(f"{prefix}reminders") or client.hlen(f"{prefix}unacked"):
            time.sleep(0.02)
        return count / (time.perf_counter() - started)
    finally:
        stop(worker)


def outbox_run(
    database: Database,
    env: dict[str, str],
    count: int,
    workers: int,
    workdir: Path,
    fake_pid: int,
) -> dict[str, Any]:
    """Seed `count` due rows, run workers + beat, time until every one is sent."""
    due = datetime.now(UTC)
    copy_messages(database.dsn(), count, due, PATIENTS, "due")
    log = workdir / "worker.log"
    worker = start([*celery_worker(concurrency=workers), "--loglevel", "INFO"], env, log)
    wait_for(log, "ready.", 60)
    beat = start(
        [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel", "WARNING"],
        env,
        workdir / "beat.log",
    )
    before = cpu_split(worker.pid, beat.pid, fake_pid)
    started = time.perf_counter()
    try:
        with database.engine.connect() as connection:
            while connection.execute(
                select(func.count()).where(MESSAGES.c.status.in_(("pending", "claimed", "sending")))
            ).scalar_one():
                time.sleep(0.1)
        elapsed = time.perf_counter() - started
        after = cpu_split(worker.pid, beat.pid, fake_pid)
    finally:
        stop(beat)
        stop(worker)
    with database.engine.connect() as connection:
        sent = connection.execute(
            select(func.count()).where(MESSAGES.c.status == "sent")
        ).scalar_one()
        lags = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM sent_at - due_at) FROM message WHERE status = 'sent'"
                )
            )
        ]
    lags = sorted(float(lag) for lag in lags)
    return {
        "cpu_ms_per_message": {
            part: round((after[part] - before[part]) * 1000 / max(sent, 1), 3) for part in after
        },
        "sent": sent,
        "seconds": elapsed,
        "messages_per_second": sent / elapsed,
        "p50_lag_seconds": statistics.median(lags),
        "p99_lag_seconds": lags[int(len(lags) * 0.99) - 1],
    }


def cpu_split(worker_pid: int, beat_pid: int, fake_pid: int) -> dict[str, float]:
    """CPU seconds so far of the workers and beat, the fake Twilio server and PostgreSQL."""
    return {
        "workers_and_beat": tree_cpu_seconds(worker_pid) + tree_cpu_seconds(beat_pid),
        "fake_twilio": tree_cpu_seconds(fake_pid),
        "postgresql": postgres_cpu_seconds(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="worker pool processes")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    fake, twilio = start_fake_twilio_process(port=0)
    prefix = f"bd{uuid.uuid4().hex[:6]}:"
    try:
        with Database() as database:
            seed_people(database.dsn(), PATIENTS)
            env = service_env(
                database.url,
                REDIS_URL,
                prefix,
                **twilio.env(),
                REMINDERS_SENDS_PER_SECOND="1000000",
                REMINDERS_DISPATCH_INTERVAL_SECONDS="0.2",
                REMINDERS_DISPATCH_BATCH_SIZE="200",
                **{k: v for k, v in os.environ.items() if k.startswith("REMINDERS_SEND_")},
            )
            ours = outbox_run(database, env, args.messages, args.workers, workdir, fake.pid)
            ceiling = noop_ceiling(
                env, f"bn{uuid.uuid4().hex[:6]}:", args.messages, args.workers, workdir
            )
    finally:
        twilio.close()
        stop(fake)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter("b[dn]*:*"):
            client.delete(key)
    ratio = ours["messages_per_second"] / ceiling
    save(
        "dispatch",
        {
            "messages": args.messages,
            "worker_processes": args.workers,
            "messages_per_second": round(ours["messages_per_second"], 1),
            "noop_tasks_per_second": round(ceiling, 1),
            "ratio": round(ratio, 3),
            "p50_lag_seconds": round(ours["p50_lag_seconds"], 3),
            "p99_lag_seconds": round(ours["p99_lag_seconds"], 3),
            "sent": ours["sent"],
            # Where the two cores went, per message sent.
            "cpu_ms_per_message": ours["cpu_ms_per_message"],
            "targets": {"messages_per_second_at_least": 1000, "ratio_at_least": 1.0},
        },
        f"{ours['messages_per_second']:.0f} messages/s end to end (p50 lag "
        f"{ours['p50_lag_seconds']:.1f} s, p99 {ours['p99_lag_seconds']:.1f} s) vs "
        f"{ceiling:.0f} no-op Celery tasks/s: ratio {ratio:.2f}; CPU per message: "
        + ", ".join(f"{part} {ms:.2f} ms" for part, ms in ours["cpu_ms_per_message"].items()),
    )


if __name__ == "__main__":
    main()
