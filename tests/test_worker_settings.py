"""The Celery settings the reliability story rests on, the retry backoff, and readiness."""

from __future__ import annotations

import random
from pathlib import Path

from reminders.channels.console import ConsoleChannel
from reminders.channels.twilio import TwilioChannel, TwilioConfig
from reminders.config import load_settings
from reminders.outbox import lifecycle as lc
from reminders.outbox.recovery import LookupFinder
from tests.opsclient import make_client
from workers.application import VISIBILITY_TIMEOUT_SECONDS, make_celery
from workers.runtime import finders_for


def test_celery_runs_json_only_late_acks_prefetch_one_no_results_and_short_limits() -> None:
    conf = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15")).conf
    assert (conf.task_serializer, conf.accept_content) == ("json", ["json"])
    assert conf.enable_utc and conf.timezone == "UTC"
    assert conf.task_acks_late and not conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result
    assert conf.task_soft_time_limit < conf.task_time_limit < VISIBILITY_TIMEOUT_SECONDS / 10
    assert conf.worker_cancel_long_running_tasks_on_connection_loss
    assert conf.worker_soft_shutdown_timeout > 0
    assert conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS


def test_beat_runs_the_dispatcher_at_the_configured_interval_and_drops_stale_ticks() -> None:
    settings = load_settings(redis_url="redis://127.0.0.1:6379/15", dispatch_interval_seconds=3)
    schedule = make_celery(settings).conf.beat_schedule
    assert schedule["dispatch-due"]["schedule"] == 3
    assert schedule["dispatch-due"]["options"]["expires"] == 6
    assert {entry["task"] for entry in schedule.values()} == {
        "reminders.dispatch_due",
        "reminders.sweep_leases",
        "reminders.send_alerts",
        "reminders.reconcile_unknown",
        "reminders.post_events",
        "reminders.replan_jobs",
        "reminders.fold_tally",
        "reminders.retention",
    }


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter_and_a_floor() -> None:
    rng = random.Random(7)
    for attempts, ceiling in ((1, 30), (2, 60), (3, 120), (8, 600), (20, 600)):
        delays = [lc.backoff(attempts, 30, 600, rng).total_seconds() for _ in range(200)]
        assert all(3 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
        assert min(delays) < ceiling * 0.2


def test_readyz_answers_503_naming_redis_when_it_is_unreachable(
    database_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = make_client(database_url, "redis://127.0.0.1:1/0", key_prefix, tmp_path)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "redis": "unreachable"}


def test_unknown_sms_are_reconciled_through_twilio_and_email_is_left_to_operators() -> None:
    twilio = TwilioChannel(TwilioConfig("AC" + "0" * 32, "token", from_="+15550000000"))
    finders = finders_for({"sms": twilio, "email": ConsoleChannel("email")})
    assert set(finders) == {"sms"} and isinstance(finders["sms"], LookupFinder)


def test_routine_beat_ticks_are_quiet_at_info_and_shown_at_debug() -> None:
    import logging

    from workers.routine_logs import RoutineFilter

    routine = RoutineFilter(["reminders.dispatch_due", "reminders.sweep_leases"])

    def line(level: int, text: str) -> logging.LogRecord:
        return logging.LogRecord("celery.app.trace", level, __file__, 1, text, None, None)

    tick = "Task reminders.dispatch_due[1f2e] succeeded in 0.01s: None"
    assert not routine.filter(line(logging.INFO, tick))
    assert not routine.filter(line(logging.INFO, "Scheduler: Sending due task sweep-leases "
                                                  "(reminders.sweep_leases)"))  # fmt: skip
    assert routine.filter(line(logging.INFO, "Task reminders.send_message[9] received"))
    assert routine.filter(line(logging.ERROR, "Task reminders.dispatch_due[1f2e] raised"))
