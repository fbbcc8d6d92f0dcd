"""The Celery app: JSON only, UTC, late acks, prefetch 1, no results, short time limits.

Importing this module reads no settings and connects to nothing: `app` is configured from
Settings when Celery first needs its configuration (a worker, beat or flower starting, or a
task being sent), through the app's `on_configure` signal.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

from celery import Celery, signals

from reminders.channels.registry import build_channels, console_notice
from reminders.config import Settings, load_settings
from reminders.db import make_engine, require_migrated
from reminders.errors import SetupError
from reminders.redis_link import celery_broker_url, find_redis_url
from workers.routine_logs import quiet_routine

# The broker redelivers an unacked task after the visibility timeout; every time limit
# stays far below it so a slow task is never handed to a second worker while still running.
VISIBILITY_TIMEOUT_SECONDS = 3600
# A delivery stops starting sends after min(60 s, lease / 2); the limits back that up.
TASK_TIME_LIMIT_SECONDS = 100
TASK_SOFT_TIME_LIMIT_SECONDS = 90


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured for these settings (tests and benchmarks build their own)."""
    celery = Celery("reminders", include=["workers.tasks"])
    celery.conf.update(celery_config(settings))
    return celery


# Long because it is one flat settings table: splitting it would hide what Celery is told.
def celery_config(settings: Settings) -> dict[str, object]:
    """Celery's configuration for these settings; finds the Redis, never starts one."""
    redis_url = find_redis_url(settings.redis_url, settings.var_dir)
    interval = settings.dispatch_interval_seconds
    return dict(
        broker_url=celery_broker_url(redis_url),
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        enable_utc=True,
        timezone="UTC",
        task_acks_late=True,
        # The database lease recovers lost work, so a message that kills its worker is not
        # requeued forever by the broker.
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_time_limit=TASK_TIME_LIMIT_SECONDS,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT_SECONDS,
        task_default_queue="reminders",
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            "global_keyprefix": settings.redis_key_prefix,
        },
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # On SIGTERM, give running batches time to finish and record before exiting.
        worker_soft_shutdown_timeout=30.0,
        worker_hijack_root_logger=False,
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
        beat_schedule={
            "dispatch-due": {
                "task": "reminders.dispatch_due",
                "schedule": interval,
                # A tick nobody ran in time is dropped: the next tick claims the same rows.
                "options": {"expires": max(interval * 2, 1.0)},
            },
            "sweep-leases": {
                "task": "reminders.sweep_leases",
                "schedule": settings.sweep_interval_seconds,
                "options": {"expires": settings.sweep_interval_seconds * 2},
            },
            "send-alerts": {
                "task": "reminders.send_alerts",
                "schedule": settings.sweep_interval_seconds,
                "options": {"expires": settings.sweep_interval_seconds * 2},
            },
            "post-events": {
                "task": "reminders.post_events",
                "schedule": settings.events_interval_seconds,
                "options": {"expires": settings.events_interval_seconds * 2},
            },
            "replan-jobs": {
                "task": "reminders.replan_jobs",
                "schedule": settings.sweep_interval_seconds,
                "options": {"expires": settings.sweep_interval_seconds * 2},
            },
            "reconcile-unknown": {
                "task": "reminders.reconcile_unknown",
                "schedule": settings.reconcile_interval_seconds,
                "options": {"expires": settings.reconcile_interval_seconds * 2},
            },
            "fold-tally": {
                "task": "reminders.fold_tally",
                "schedule": settings.tally_interval_seconds,
                "options": {"expires": settings.tally_interval_seconds * 2},
            },
            "retention": {
                "task": "reminders.retention",
                "schedule": settings.retention_interval_seconds,
                "options": {"expires": settings.retention_interval_seconds},
            },
        },
    )


app = Celery("reminders", include=["workers.tasks"])


@app.on_configure.connect
def configure_from_settings(sender: Celery, **_: object) -> None:
    """Read settings and find Redis when Celery first needs its configuration, not at import."""
    settings = settings_or_exit()
    try:
        config = celery_config(settings)
    except SetupError as exc:
        stop_with(exc)
    settings.var_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule file there
    sender.config_from_object(config)


@signals.worker_init.connect
@signals.beat_init.connect
def refuse_to_start_misconfigured(**_: object) -> None:
    """Stop a worker or beat at start-up, naming the fix, if the schema is behind or a channel
    setting is unusable (instead of failing every task later)."""
    settings = settings_or_exit()
    engine = make_engine(settings.effective_database_url)
    try:
        require_migrated(engine)
        build_channels(settings)
    except SetupError as exc:
        stop_with(exc)
    finally:
        engine.dispose()  # no pooled connection may outlive the fork into the pool


@signals.after_setup_logger.connect
def quiet_routine_ticks(loglevel: int | str = logging.INFO, **_: object) -> None:
    """Each beat tick's "sending due task" / "received" / "succeeded" lines only under DEBUG."""
    schedule = app.conf.beat_schedule or {}
    quiet_routine((entry["task"] for entry in schedule.values()), loglevel)


@signals.worker_ready.connect
def announce_console_mode(**_: object) -> None:
    """Say loudly, once the worker is up, when its messages are printed instead of sent."""
    notice = console_notice(settings_or_exit())
    if notice:
        print(notice, file=sys.stderr, flush=True)


def settings_or_exit() -> Settings:
    """The settings, or exit naming the bad variable."""
    try:
        return load_settings()
    except SetupError as exc:
        stop_with(exc)


def stop_with(exc: SetupError) -> NoReturn:
    """Exit this Celery process with one line saying what to fix."""
    print(f"reminders: {exc}", file=sys.stderr)
    raise SystemExit(1) from None
