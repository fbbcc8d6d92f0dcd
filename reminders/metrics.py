"""Prometheus metrics shared by every process: worker events in Redis, gauges at scrape time.

API, workers (several prefork processes) and beat are separate processes, so in-process
counters would be invisible to the API's /metrics. Workers record events in Redis hashes under
the configured key prefix; the API's collector reads them, and computes gauges from the
database and Redis when Prometheus scrapes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders import overview

log = logging.getLogger(__name__)
CLAIM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SENDS, CLAIMS, WEBHOOKS = "metrics:sends", "metrics:claim_seconds", "metrics:webhooks"
NO_CODE = "none"


class Recorder:
    """Counts events in Redis; a Redis outage loses a metric, never a send."""

    def __init__(self, client: redis.Redis | None, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def record_send(self, outcome: str, provider_code: str | None = None) -> None:
        """One send attempt ended in `outcome` (the row's new status) with this provider code."""
        self.record_sends([(outcome, provider_code)])

    def record_sends(self, results: Iterable[tuple[str, str | None]]) -> None:
        """Several send attempts at once: one round trip to Redis for a whole chunk."""
        self._add(SENDS, Counter(f"{outcome}|{code or NO_CODE}" for outcome, code in results))

    def observe_claim(self, seconds: float) -> None:
        """One claim statement took `seconds`."""
        bucket = next((str(b) for b in CLAIM_BUCKETS if seconds <= b), "+Inf")
        self._incr(CLAIMS, bucket, 1)
        self._incr(CLAIMS, "count", 1)
        self._incr(CLAIMS, "sum", seconds)

    def record_webhooks(self, counts: Mapping[str, int]) -> None:
        """Webhook requests by outcome (accepted, rejected, error), in one round trip."""
        self._add(WEBHOOKS, counts)

    def _add(self, key: str, counts: Mapping[str, int]) -> None:
        """Add whole-number counts to one hash's fields in one round trip."""
        if self.client is None or not counts:
            return
        try:
            pipeline = self.client.pipeline(transaction=False)
            for field, amount in counts.items():
                pipeline.hincrby(self.prefix + key, field, amount)
            pipeline.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("metric %s not recorded: %s", key, exc)

    def _incr(self, key: str, field: str, amount: float) -> None:
        if self.client is None:
            return
        try:
            if isinstance(amount, int):
                self.client.hincrby(self.prefix + key, field, amount)
            else:
                self.client.hincrbyfloat(self.prefix + key, field, amount)
        except (redis.RedisError, OSError) as exc:
            log.warning("metric %s not recorded: %s", key, exc)


def webhook_outcome(status_code: int) -> str:
    """accepted (2xx), rejected (4xx: bad signature, bad payload) or error (5xx)."""
    if status_code < 400:
        return "accepted"
    return "rejected" if status_code < 500 else "error"


class RemindersCollector(Collector):
    """Builds every reminders_ metric when Prometheus scrapes."""

    def __init__(
        self, engine: Engine, client: redis.Redis, prefix: str, clock: Callable[[], datetime]
    ) -> None:
        self.engine, self.client, self.prefix, self.clock = engine, client, prefix, clock

    def collect(self) -> Iterator[Metric]:
        """Gauges from the database and Redis, counters and histogram from Redis hashes."""
        yield from self._database_gauges()
        depth = GaugeMetricFamily(
            "reminders_queue_depth", "Tasks waiting in a Celery queue.", labels=["queue"]
        )
        for queue, n in overview.queue_depths(self.client, self.prefix).items():
            if n is not None:
                depth.add_metric([queue], n)
        yield depth
        yield from self._shared_events()

    def _database_gauges(self) -> Iterator[Metric]:
        with Session(self.engine) as session:
            by_status = overview.status_counts(session)
            lag = overview.lag_seconds(session, self.clock())
            unsent_alerts = overview.unsent_alerts(session, self.clock())
        messages = GaugeMetricFamily(
            "reminders_messages", "Outbox rows by status and channel.", labels=["status", "channel"]
        )
        for (status, channel), n in sorted(by_status.items()):
            messages.add_metric([status, channel], n)
        yield messages
        yield GaugeMetricFamily(
            "reminders_dispatch_lag_seconds",
            "Age of the oldest overdue pending message (0 when none).",
            value=lag,
        )
        yield GaugeMetricFamily(
            "reminders_unsent_warning_alerts",
            "Warning-sign replies whose clinic alert is unsent after 5 minutes.",
            value=unsent_alerts,
        )

    def _shared_events(self) -> Iterator[Metric]:
        sends = CounterMetricFamily(
            "reminders_sends",
            "Send attempts by outcome and provider code.",
            labels=["outcome", "provider_code"],
        )
        for field, n in sorted(self._hash(SENDS).items()):
            outcome, _, code = field.partition("|")
            sends.add_metric([outcome, code], n)
        yield sends
        webhooks = CounterMetricFamily(
            "reminders_webhook_requests", "Webhook requests by outcome.", labels=["outcome"]
        )
        for outcome, n in sorted(self._hash(WEBHOOKS).items()):
            webhooks.add_metric([outcome], n)
        yield webhooks
        yield self._claim_histogram()

    def _claim_histogram(self) -> Metric:
        raw = self._hash(CLAIMS)
        cumulative, buckets = 0.0, []
        for bound in (*[str(b) for b in CLAIM_BUCKETS], "+Inf"):
            cumulative += raw.get(bound, 0.0)
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(
            "reminders_claim_duration_seconds",
            "Time taken by one claim of due messages.",
            buckets=buckets,
            sum_value=raw.get("sum", 0.0),
        )

    def _hash(self, key: str) -> dict[str, float]:
        try:
            raw = self.client.hgetall(self.prefix + key)
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics hash %s unreadable: %s", key, exc)
            return {}
        return {_text(k): float(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
