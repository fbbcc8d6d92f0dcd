"""/metrics: worker events shared through Redis and gauges computed at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from reminders import lifecycle as lc
from reminders.api.webhook_tally import WebhookTally
from reminders.metrics import Recorder
from tests.opsdata import Outbox
from tests.test_ops_api import BEARER, make_client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_expose_events_from_other_processes_and_database_gauges(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush(f"{key_prefix}reminders", "a", "b")
    # Two recorders stand for two worker processes writing to the shared store.
    for recorder in (Recorder(client, key_prefix), Recorder(client, key_prefix)):
        recorder.record_send(lc.SENT)
        recorder.record_send(lc.FAILED, "21610")
        recorder.observe_claim(0.003)
        recorder.observe_claim(0.2)
    box = Outbox(engine)
    box.add(lc.PENDING, due_at=datetime.now(UTC) - timedelta(minutes=5))
    box.add(lc.DEAD, "email")

    with make_client(database_url, redis_url, key_prefix, tmp_path) as api:
        api.post("/v1/clinics/clinic-a/events")  # unsigned: rejected whatever the route does
        response = api.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    found = samples(response.text)

    assert found[("reminders_messages", (("channel", "sms"), ("status", "pending")))] == 1
    assert found[("reminders_messages", (("channel", "email"), ("status", "dead")))] == 1
    assert 290 < found[("reminders_dispatch_lag_seconds", ())] < 900
    assert found[("reminders_queue_depth", (("queue", "reminders"),))] == 2
    sends = "reminders_sends_total"
    assert found[(sends, (("outcome", "sent"), ("provider_code", "none")))] == 2
    assert found[(sends, (("outcome", "failed"), ("provider_code", "21610")))] == 2
    claims = "reminders_claim_duration_seconds"
    assert found[(f"{claims}_bucket", (("le", "0.005"),))] == 2
    assert found[(f"{claims}_bucket", (("le", "0.25"),))] == 4
    assert found[(f"{claims}_bucket", (("le", "+Inf"),))] == 4
    assert found[(f"{claims}_count", ())] == 4
    assert abs(found[(f"{claims}_sum", ())] - 0.406) < 1e-9
    assert found[("reminders_webhook_requests_total", (("outcome", "rejected"),))] == 1
    client.close()


def test_a_redis_outage_loses_a_metric_but_never_raises() -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    Recorder(down, "x:").record_send(lc.SENT)
    Recorder(down, "x:").observe_claim(0.1)
    Recorder(down, "x:").record_webhooks({"accepted": 1})
    Recorder(None, "x:").record_webhooks({"accepted": 1})


class Tick:
    """A fake monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def webhook_counts(client: redis.Redis, prefix: str) -> dict[str, int]:
    raw = client.hgetall(f"{prefix}metrics:webhooks")
    return {key.decode(): int(value) for key, value in raw.items()}


def test_webhook_outcomes_are_written_together_once_a_second(
    redis_url: str, key_prefix: str
) -> None:
    client, tick = redis.Redis.from_url(redis_url), Tick()
    tally = WebhookTally(Recorder(client, key_prefix), every=1.0, clock=tick)
    assert not tally.add("accepted") and not tally.add("rejected")
    tally.add("accepted")
    assert webhook_counts(client, key_prefix) == {}  # not yet: less than a second
    tick.now = 1.0
    assert tally.add("accepted")  # due: this caller writes...
    assert not tally.add("error")  # ...and the next ones keep counting meanwhile
    tally.write()
    assert webhook_counts(client, key_prefix) == {"accepted": 3, "rejected": 1, "error": 1}
    tally.write()  # nothing new: nothing added twice
    assert webhook_counts(client, key_prefix) == {"accepted": 3, "rejected": 1, "error": 1}
    client.close()


def test_the_api_writes_its_pending_webhook_counts_when_it_stops(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with make_client(database_url, redis_url, key_prefix, tmp_path) as api:
        api.post("/v1/clinics/clinic-a/events")  # unsigned: rejected
        api.post("/v1/clinics/clinic-a/events")
    client = redis.Redis.from_url(redis_url)
    assert webhook_counts(client, key_prefix) == {"rejected": 2}
    client.close()
