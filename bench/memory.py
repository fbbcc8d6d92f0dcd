"""Worker memory with 1,000,000 future reminders in the outbox vs none, and as Celery ETA tasks."""

from __future__ import annotations

import multiprocessing
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from bench.common import REDIS_URL, Database, copy_messages, save, seed_people
from bench.processes import BIN, celery_worker, service_env, start, stop, tree_rss_mib, wait_for
from reminders.config import load_settings
from workers.application import make_celery

FUTURE, ETA_TASKS, PATIENTS, SETTLE_SECONDS = 1_000_000, 100_000, 1_000, 8


def worker_rss(
    database_url: str,
    prefix: str,
    workdir: Path,
    queues: str = "reminders",
    beat: bool = True,
    until_drained: str | None = None,
) -> float:
    """RSS of a worker (and its pool) after it has run dispatch ticks for a while."""
    env = service_env(database_url, REDIS_URL, prefix, REMINDERS_DISPATCH_INTERVAL_SECONDS="0.5")
    log = workdir / f"worker-{uuid.uuid4().hex[:4]}.log"
    # INFO for the "ready." line; WARNING while draining ETA tasks (a log line each).
    level = "WARNING" if until_drained else "INFO"
    worker = start([*celery_worker(queues=queues), "--loglevel", level], env, log)
    beater = (
        start(
            [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel", "WARNING"],
            env,
            workdir / "beat.log",
        )
        if beat
        else None
    )
    try:
        wait_for(log, "ready." if level == "INFO" else "celery@", 60)
        if until_drained:
            client = redis.Redis.from_url(REDIS_URL)
            deadline = time.monotonic() + 300
            while client.llen(until_drained) and time.monotonic() < deadline:
                time.sleep(1)
        time.sleep(SETTLE_SECONDS)
        return tree_rss_mib(worker.pid)
    finally:
        if beater is not None:
            stop(beater)
        stop(worker)


def publish_eta_tasks(prefix: str) -> None:
    """The design we avoid: every reminder as a Celery task with an ETA weeks ahead."""
    with multiprocessing.Pool(2) as pool:  # publishing is CPU-bound: use both cores
        pool.starmap(publish_some, [(prefix, part, 2) for part in range(2)])


def publish_some(prefix: str, part: int, parts: int) -> None:
    """Publish every `parts`-th ETA task, starting at `part`."""
    app = make_celery(load_settings(redis_url=REDIS_URL, redis_key_prefix=prefix))
    eta = datetime.now(UTC) + timedelta(days=30)
    with app.producer_or_acquire() as producer:
        for n in range(part, ETA_TASKS, parts):
            app.send_task(
                "reminders.send_message", args=[[n]], eta=eta, queue="eta", producer=producer
            )


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    with Database() as database:
        url, dsn = database.url, database.dsn()
        seed_people(dsn, PATIENTS)
        empty = worker_rss(url, f"bm{uuid.uuid4().hex[:6]}:", workdir)
        copy_messages(dsn, FUTURE, datetime.now(UTC) + timedelta(days=30), PATIENTS, "future")
        full = worker_rss(url, f"bm{uuid.uuid4().hex[:6]}:", workdir)
        eta_prefix = f"bm{uuid.uuid4().hex[:6]}:"
        publish_eta_tasks(eta_prefix)
        eta = worker_rss(
            url, eta_prefix, workdir, queues="eta", beat=False, until_drained=f"{eta_prefix}eta"
        )
    for key in redis.Redis.from_url(REDIS_URL).scan_iter(f"{eta_prefix}*"):
        redis.Redis.from_url(REDIS_URL).delete(key)
    ratio = full / empty
    save(
        "memory",
        {
            "worker_rss_mib_empty_outbox": round(empty, 1),
            "worker_rss_mib_1m_future_rows": round(full, 1),
            "ratio": round(ratio, 3),
            "target_ratio_at_most": 1.1,
            "worker_rss_mib_100k_celery_eta_tasks": round(eta, 1),
        },
        f"worker RSS {empty:.0f} MiB with an empty outbox, {full:.0f} MiB with 1M future rows "
        f"(ratio {ratio:.2f}, target <= 1.1); {eta:.0f} MiB holding 100k Celery ETA tasks",
    )


if __name__ == "__main__":
    main()
