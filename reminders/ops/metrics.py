"""Prometheus metrics: events counted by prometheus_client, gauges computed at scrape time.

The counters and the claim histogram are prometheus_client's own. With PROMETHEUS_MULTIPROC_DIR
set (one directory per host, emptied before that host's processes start), every process on the
host writes them to files there and a scrape sums them all; unset, they count in this process.
The gauges are read from the database and Redis when Prometheus scrapes the API.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

import redis
from prometheus_client import Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.console import is_console
from reminders.ops import overview

CLAIM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NO_CODE = "none"
# prometheus_client's own switch: read when it is imported, so set it before a process starts.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Events:
    """The counted metrics, each defined once, in their own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.sends = Counter(
            "reminders_sends",
            "Send attempts by outcome, provider code, and via: provider (Twilio, SMTP) or "
            "console (printed, not sent).",
            ["outcome", "provider_code", "via"],
            registry=registry,
        )
        self.webhooks = Counter(
            "reminders_webhook_requests",
            "Webhook requests by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.claims = Histogram(
            "reminders_claim_duration_seconds",
            "Time taken by one claim of due messages.",
            buckets=CLAIM_BUCKETS,
            registry=registry,
        )


@functools.cache
def shared_events() -> Events:
    """This process's metrics, made on first use (in multiprocess mode they open files)."""
    return Events(CollectorRegistry())


class Recorder:
    """Counts events in prometheus_client's metrics: memory, or a shared-memory file, no I/O."""

    def __init__(self, events: Events | None = None) -> None:
        self.events = events or shared_events()

    def record_send(
        self, outcome: str, provider_code: str | None = None, provider_id: str | None = None
    ) -> None:
        """One send attempt ended in `outcome` (the row's new status) with this provider code;
        a console provider id counts it as via="console"."""
        self.record_sends([(outcome, provider_code, provider_id)])

    def record_sends(self, results: Iterable[tuple[str, str | None, str | None]]) -> None:
        """Several send attempts at once."""
        for outcome, code, provider_id in results:
            via = "console" if is_console(provider_id) else "provider"
            self.events.sends.labels(outcome, code or NO_CODE, via).inc()

    def observe_claim(self, seconds: float) -> None:
        """One claim statement took `seconds`."""
        self.events.claims.observe(seconds)

    def record_webhook(self, status_code: int) -> None:
        """One webhook request answered with this status."""
        self.events.webhooks.labels(webhook_outcome(status_code)).inc()


def webhook_outcome(status_code: int) -> str:
    """accepted (2xx), rejected (4xx: bad signature, bad payload) or error (5xx)."""
    if status_code < 400:
        return "accepted"
    return "rejected" if status_code < 500 else "error"


def multiproc_dir() -> str | None:
    """This host's metrics directory when prometheus_client runs in multiprocess mode."""
    return os.environ.get(MULTIPROC_ENV) or None


class InProcess(Collector):
    """Forwards one registry's metrics into another (the single-process case)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        """Whatever the source registry holds now."""
        yield from self.source.collect()


def counted_events(directory: str | None = None) -> Collector:
    """The counts of every process on this host (multiprocess mode), else of this process."""
    directory = directory or multiproc_dir()
    if directory:
        return multiprocess.MultiProcessCollector(None, path=directory)
    return InProcess(shared_events().registry)


def mark_process_dead(pid: int) -> None:
    """prometheus_client's clean-up for an exited process (its live gauges); no-op otherwise."""
    directory = multiproc_dir()
    if directory:
        multiprocess.mark_process_dead(pid, directory)


def empty_directory(directory: Path) -> None:
    """Create the metrics directory, or empty it of the last run's files, before processes start.

    prometheus_client requires this: a file left by an earlier run would add its counts again.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink(missing_ok=True)


class RemindersCollector(Collector):
    """The gauges, computed from the database and Redis when Prometheus scrapes."""

    def __init__(
        self, engine: Engine, client: redis.Redis, prefix: str, clock: Callable[[], datetime]
    ) -> None:
        self.engine, self.client, self.prefix, self.clock = engine, client, prefix, clock

    def collect(self) -> Iterator[Metric]:
        """Outbox rows, lag and unsent alerts from the database; queue depths from Redis."""
        yield from self._database_gauges()
        depth = GaugeMetricFamily(
            "reminders_queue_depth", "Tasks waiting in a Celery queue.", labels=["queue"]
        )
        for queue, n in overview.queue_depths(self.client, self.prefix).items():
            if n is not None:
                depth.add_metric([queue], n)
        yield depth

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
