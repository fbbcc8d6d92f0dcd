"""What a worker process needs, built once per process from settings."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from celery import signals
from sqlalchemy.engine import Engine

from reminders.channels.registry import build_channels
from reminders.config import Settings, load_settings
from reminders.consent.gate import gate_for, patience_for
from reminders.consent.optout import opt_out_patient
from reminders.consent.unsubscribe import link_key
from reminders.db import make_engine, require_migrated
from reminders.delivery.deliverer import Deliverer, RetryPolicy
from reminders.delivery.rendering import Renderer
from reminders.delivery.throttle import RedisRateLimiter
from reminders.ops.metrics import Recorder, counted_events, mark_process_dead, multiproc_dir
from reminders.ops.metrics_server import serve_counts
from reminders.outbox.recovery import Finder, LookupFinder
from reminders.redis_link import find_redis_url

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    """Settings, engine, deliverer and provider finders for this worker process."""

    settings: Settings
    engine: Engine
    deliverer: Deliverer
    finders: Mapping[str, Finder]
    recorder: Recorder

    @property
    def owner(self) -> str:
        """A lease owner name unique to this process."""
        return f"{socket.gethostname()}:{os.getpid()}"


@functools.cache
def runtime() -> Runtime:
    """Build the runtime lazily, after the worker has forked."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    # Short timeouts: a Redis hiccup must not stall a send (rows the rate limiter cannot
    # ration go back to pending unsent).
    redis_client = redis.Redis.from_url(
        find_redis_url(settings.redis_url, settings.var_dir),
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    recorder = Recorder()
    channels = build_channels(settings)
    gate = gate_for(engine, patience_for(settings.twilio_timeout_seconds))
    deliverer = Deliverer(
        engine=engine,
        channels=channels,
        renderer=Renderer(),
        public_url=settings.public_url,
        clock=utc_now,
        retry=RetryPolicy(
            settings.max_attempts, settings.retry_base_seconds, settings.retry_cap_seconds
        ),
        lease=timedelta(seconds=settings.lease_seconds),
        limiter=RedisRateLimiter(
            redis_client, settings.sends_per_second, settings.redis_key_prefix
        ),
        senders=senders_of(settings),
        concurrency=settings.send_concurrency,
        recorder=recorder,
        link_key=link_key(settings),
        gate=gate,
        longest_send=timedelta(
            seconds=2 * max(settings.twilio_timeout_seconds, settings.smtp_timeout_seconds)
        ),
        on_unsubscribed=lambda patient_id: opt_out_patient(engine, gate, patient_id, utc_now()),
    )
    return Runtime(settings, engine, deliverer, finders_for(channels), recorder)


def finders_for(channels: Mapping[str, object]) -> dict[str, Finder]:
    """A reconciliation finder per channel whose provider can list what it sent (Twilio)."""
    return {
        name: LookupFinder(channel)
        for name, channel in channels.items()
        if hasattr(channel, "sent_to")
    }


def senders_of(settings: Settings) -> dict[str, str]:
    """The rate-limit key per channel: the Twilio sender, or the channel name."""
    sms = settings.twilio_messaging_service_sid or settings.twilio_from or "console-sms"
    return {"sms": sms, "email": "email"}


@signals.worker_ready.connect
def serve_metrics(**_: object) -> None:
    """With REMINDERS_WORKER_METRICS_PORT set, serve this host's counts (in the main process)."""
    settings = load_settings()
    if not settings.worker_metrics_port:
        return
    if multiproc_dir() is None:
        log.warning("PROMETHEUS_MULTIPROC_DIR is unset: the pool processes' counts are not served")
    serve_counts(settings.worker_metrics_port, settings.operator_token, counted_events())


@signals.worker_process_shutdown.connect
def forget_pool_process(pid: int, **_: object) -> None:
    """prometheus_client's clean-up when a prefork pool process exits."""
    mark_process_dead(pid)
