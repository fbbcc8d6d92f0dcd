"""Across processes: a real worker and beat send; /metrics (the API's and the worker's own) and
the overview see it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reminders.models import MESSAGES
from reminders.ops.metrics import MULTIPROC_ENV, empty_directory
from tests.factories import enroll_with_prompts_due_now
from tests.harness import BIN, ServiceProcess, celery_beat_argv, celery_worker_argv, service_env
from tests.processes import free_port, wait_ready

TOKEN = "live-test-operator-token-of-32-chars"


def sent_count(engine: Engine) -> int:
    with engine.connect() as connection:
        stmt = select(func.count()).where(MESSAGES.c.status == "sent")
        return int(connection.execute(stmt).scalar_one())


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"{name}{labels} not exposed")


def scrape(url: str, sends: int) -> str:
    """The metrics text once it counts `sends` sends (a worker counts just after it commits)."""
    deadline = time.monotonic() + 5
    while True:
        text = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
        try:
            if metric(text, "reminders_sends_total", outcome="sent", provider_code="none") >= sends:
                return text
        except AssertionError:
            pass
        if time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_worker_events_reach_the_apis_metrics_and_the_overview_sees_the_worker(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    enroll_with_prompts_due_now(engine)
    # One host: the worker's pool processes and the API share a metrics directory.
    metrics_dir, worker_port = tmp_path / "prometheus", free_port()
    empty_directory(metrics_dir)
    env = service_env(
        database_url,
        redis_url,
        key_prefix,
        tmp_path / "var",
        REMINDERS_CONSOLE_FILE=str(tmp_path / "sent.jsonl"),
        REMINDERS_DISPATCH_INTERVAL_SECONDS="0.5",
        REMINDERS_OPERATOR_TOKEN=TOKEN,
        REMINDERS_WORKER_METRICS_PORT=str(worker_port),
        **{MULTIPROC_ENV: str(metrics_dir)},
    )
    # Heartbeats, mingle and gossip stay off as in the other tests; control (ping) stays on.
    worker = ServiceProcess(celery_worker_argv(concurrency=1), env, tmp_path / "worker.log")
    beat = ServiceProcess(celery_beat_argv(), env, tmp_path / "beat.log")
    port = free_port()
    api = ServiceProcess(
        [str(BIN / "reminders"), "api", "--port", str(port)], env, tmp_path / "api.log"
    )
    try:
        worker.start(ready_text="ready.")
        beat.start()
        api.start()
        wait_ready(f"http://127.0.0.1:{port}/healthz", api.process)
        deadline = time.monotonic() + 60
        while sent_count(engine) < 3 and time.monotonic() < deadline:
            time.sleep(0.25)
        # Both emails and the day-1 SMS; the stale first-night SMS is held by the daily cap.
        assert sent_count(engine) == 3, worker.output()[-3000:]

        headers = {"Authorization": f"Bearer {TOKEN}"}
        text = scrape(f"http://127.0.0.1:{port}/metrics", sends=3)
        assert metric(text, "reminders_sends_total", outcome="sent", provider_code="none") == 3
        assert metric(text, "reminders_claim_duration_seconds_count") >= 1
        assert metric(text, "reminders_messages", status="sent", channel="sms") == 1
        # A worker host without the API serves its own counts (and no gauges).
        own = scrape(f"http://127.0.0.1:{worker_port}/metrics", sends=3)
        assert metric(own, "reminders_sends_total", outcome="sent", provider_code="none") == 3
        assert "reminders_messages" not in own

        page = httpx.get(f"http://127.0.0.1:{port}/ops", headers=headers, timeout=10).text
        assert "Workers: celery@" in page

        status = subprocess.run(
            [str(BIN / "reminders"), "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        report = json.loads(status.stdout)
        assert status.returncode == 0, report["alerts"]
        assert len(report["workers"]) == 1 and report["lag_seconds"] == 0
    finally:
        api.stop()
        beat.stop()
        worker.stop()
