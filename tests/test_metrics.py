"""/metrics: counts by prometheus_client (several processes per host), gauges at scrape time."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from sqlalchemy.engine import Engine

from reminders.ops.metrics import MULTIPROC_ENV, Events, InProcess, Recorder, empty_directory
from reminders.ops.metrics_server import serve_counts
from reminders.outbox import lifecycle as lc
from tests.harness import ROOT, service_env
from tests.opsclient import BEARER, TOKEN, make_client
from tests.opsdata import Outbox
from tests.processes import served_api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
REJECTED = ("reminders_webhook_requests_total", (("outcome", "rejected"),))
# What one worker process counts: two sends and two claims.
RECORD = """
from reminders.outbox import lifecycle as lc
from reminders.ops.metrics import Recorder
recorder = Recorder()
recorder.record_send(lc.SENT)
recorder.record_send(lc.FAILED, "21610")
recorder.record_send(lc.SENT, None, "console-9")
recorder.observe_claim(0.003)
recorder.observe_claim(0.2)
"""


def samples(text: str) -> Samples:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_expose_database_and_queue_gauges_at_scrape_time(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush(f"{key_prefix}reminders", "a", "b")
    box = Outbox(engine)
    box.add(lc.PENDING, due_at=datetime.now(UTC) - timedelta(minutes=5))
    box.add(lc.DEAD, "email")

    with make_client(database_url, redis_url, key_prefix, tmp_path) as api:
        response = api.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    found = samples(response.text)
    assert found[("reminders_messages", (("channel", "sms"), ("status", "pending")))] == 1
    assert found[("reminders_messages", (("channel", "email"), ("status", "dead")))] == 1
    assert 290 < found[("reminders_dispatch_lag_seconds", ())] < 900
    assert found[("reminders_queue_depth", (("queue", "reminders"),))] == 2
    client.close()


def test_in_a_single_process_the_api_counts_its_webhooks_in_memory_and_writes_no_redis_key(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with make_client(database_url, redis_url, key_prefix, tmp_path) as api:
        before = samples(api.get("/metrics", headers=BEARER).text).get(REJECTED, 0)
        api.post("/v1/clinics/clinic-a/events")  # unsigned: rejected whatever the route does
        api.post("/v1/twilio/status")
        after = samples(api.get("/metrics", headers=BEARER).text)[REJECTED]
    assert after - before == 2
    client = redis.Redis.from_url(redis_url)
    assert client.keys(f"{key_prefix}*") == []
    client.close()


def test_counts_from_separate_worker_processes_appear_on_the_api_metrics_in_multiprocess_mode(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "prometheus"
    empty_directory(metrics_dir)
    env = service_env(
        database_url,
        redis_url,
        key_prefix,
        tmp_path,
        REMINDERS_OPERATOR_TOKEN=TOKEN,
        **{MULTIPROC_ENV: str(metrics_dir)},
    )
    for _worker in range(2):
        subprocess.run([sys.executable, "-c", RECORD], env=env, cwd=ROOT, check=True, timeout=60)

    with served_api(env, tmp_path / "api.log") as port:
        base = f"http://127.0.0.1:{port}"
        httpx.post(f"{base}/v1/clinics/clinic-a/events", timeout=5)  # unsigned: rejected
        found = samples(httpx.get(f"{base}/metrics", headers=BEARER, timeout=10).text)

    sends = "reminders_sends_total"
    assert (
        found[(sends, (("outcome", "sent"), ("provider_code", "none"), ("via", "provider")))] == 2
    )
    printed = (("outcome", "sent"), ("provider_code", "none"), ("via", "console"))
    assert found[(sends, printed)] == 2  # the console channel's "sends" are labelled as such
    assert (
        found[(sends, (("outcome", "failed"), ("provider_code", "21610"), ("via", "provider")))]
        == 2
    )
    claims = "reminders_claim_duration_seconds"
    assert found[(f"{claims}_bucket", (("le", "0.005"),))] == 2
    assert found[(f"{claims}_bucket", (("le", "0.25"),))] == 4
    assert found[(f"{claims}_bucket", (("le", "+Inf"),))] == 4
    assert found[(f"{claims}_count", ())] == 4
    assert abs(found[(f"{claims}_sum", ())] - 0.406) < 1e-9
    assert found[REJECTED] == 1
    client = redis.Redis.from_url(redis_url)
    assert client.keys(f"{key_prefix}*metrics*") == []
    client.close()


def test_emptying_the_metrics_directory_drops_the_last_runs_counts(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    empty_directory(metrics_dir)  # created when missing
    (metrics_dir / "counter_4242.db").write_bytes(b"old counts")
    empty_directory(metrics_dir)
    assert list(metrics_dir.iterdir()) == []


def test_a_worker_hosts_endpoint_serves_its_counts_to_the_operator_token_only() -> None:
    events = Events(CollectorRegistry())
    Recorder(events).record_send(lc.SENT)
    server = serve_counts(0, TOKEN, InProcess(events.registry), host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert httpx.get(url, timeout=5).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(url, headers=wrong, timeout=5).status_code == 401
        response = httpx.get(url, headers=BEARER, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    sent = (
        "reminders_sends_total",
        (("outcome", "sent"), ("provider_code", "none"), ("via", "provider")),
    )
    assert samples(response.text)[sent] == 1


def test_a_worker_hosts_endpoint_is_refused_while_no_operator_token_is_set() -> None:
    server = serve_counts(0, "", InProcess(CollectorRegistry()), host="127.0.0.1")
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 403 and "REMINDERS_OPERATOR_TOKEN" in response.text
