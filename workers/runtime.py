"""What a worker process needs, built once per process from settings."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from celery import signals
from sqlalchemy.engine import Engine

from reminders.channels.registry import build_channels
from reminders.channels.senders import platform_sender
from reminders.config import Settings, load_settings
from reminders.consent.gate import gate_for, patience_for
from reminders.consent.optout import opt_out_patient
from reminders.consent.unsubscribe import link_key
from reminders.db import make_engine, require_migrated
from reminders.delivery.deliverer import Deliverer
from reminders.delivery.policy import DeliveryPolicy
from reminders.delivery.rendering import Renderer
from reminders.delivery.throttle import RedisRateLimiter
from reminders.events.posting import Poster
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
    """Settings, engine, deliverer, provider finders and templates for this worker process."""

    settings: Settings
    engine: Engine
    deliverer: Deliverer
    finders: Mapping[str, Finder]
    recorder: Recorder
    renderer: Renderer

    def close(self) -> None:
        """Release what the process holds open: the send threads."""
        self.deliverer.close()

    @property
    def owner(self) -> str:
        """A lease owner name unique to this process."""
        return f"{socket.gethostname()}:{os.getpid()}"


@functools.cache
def runtime() -> Runtime:
    """Build the runtime lazily, after the worker has forked."""
    return build_runtime(load_settings())


@functools.cache
def event_poster() -> Poster:
    """The HTTP client that posts clinics' events, one per process (its connections pooled)."""
    return Poster.from_settings(runtime().settings)


def build_runtime(settings: Settings) -> Runtime:
    """Everything a worker needs, from these settings."""
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
    renderer = Renderer(settings.templates_dir)
    deliverer = Deliverer(
        engine,
        channels,
        renderer,
        DeliveryPolicy.from_settings(settings, link_key(settings)),
        utc_now,
        limiter=RedisRateLimiter(
            redis_client, settings.sends_per_second, settings.redis_key_prefix
        ),
        gate=gate,
        recorder=recorder,
        on_unsubscribed=lambda patient_id: opt_out_patient(
            engine, gate, patient_id, utc_now(), platform_sender(settings)
        ),
    )
    return Runtime(settings, engine, deliverer, finders_for(channels), recorder, renderer)


def finders_for(channels: Mapping[str, object]) -> dict[str, Finder]:
    """A reconciliation finder per channel whose provider can list what it sent (Twilio)."""
    return {
        name: LookupFinder(channel)
        for name, channel in channels.items()
        if hasattr(channel, "sent_to")
    }


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
@signals.worker_shutdown.connect
def close_runtime(**_: object) -> None:
    """As a process that built the runtime exits (pool child, or a solo worker), close it."""
    if runtime.cache_info().currsize:
        runtime().close()
    if event_poster.cache_info().currsize:
        event_poster().close()


@signals.worker_process_shutdown.connect
def forget_pool_process(pid: int, **_: object) -> None:
    """prometheus_client's clean-up when a prefork pool process exits."""
    mark_process_dead(pid)
