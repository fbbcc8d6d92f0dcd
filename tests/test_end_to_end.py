"""End to end: a real Celery worker and beat deliver exactly the prompts that are due."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.db import session_scope
from reminders.inbound.handler import Inbound, handle_inbound
from reminders.models import MESSAGES, REPLIES
from tests.factories import enroll_with_prompts_due_now, make_clinic, make_patient_with_treatment
from tests.harness import ServiceProcess, celery_beat_argv, celery_worker_argv, service_env


def run_worker_and_beat(
    env: dict[str, str], tmp_path: Path, done: Callable[[], bool], settle: float
) -> str:
    """Run a real worker and beat until `done()` (at most 60 s), then `settle` seconds more.

    Returns the end of the worker's output, for failure messages.
    """
    worker = ServiceProcess(celery_worker_argv(), env, tmp_path / "worker.log")
    beat = ServiceProcess(celery_beat_argv(), env, tmp_path / "beat.log")
    try:
        worker.start(ready_text="ready.")
        beat.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done():
            time.sleep(0.25)
        time.sleep(settle)
    finally:
        beat.stop()
        worker.stop()
    return worker.output()[-3000:]


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(select(MESSAGES.c.idempotency_key, MESSAGES.c.status)).all()
    return {key: status for key, status in rows}


@pytest.mark.parametrize("sms_per_day", [1, 2], ids=["one-sms-a-day", "room-for-both"])
def test_due_prompts_go_once_nothing_early_and_within_the_daily_sms_cap(
    sms_per_day: int,
    engine: Engine,
    database_url: str,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> None:
    # Treated at 10:30 local yesterday: first night (valid 30 h here) and day 1 are due.
    enroll_with_prompts_due_now(engine, sms_per_day=sms_per_day)
    planned = statuses(engine)
    due_keys = {key for key in planned if ":first_night:" in key or ":day_1:" in key}
    assert len(due_keys) == 4 and all(planned[key] == "pending" for key in due_keys)

    sent_file = tmp_path / "sent.jsonl"
    env = service_env(
        database_url,
        redis_url,
        key_prefix,
        tmp_path / "var",
        REMINDERS_CONSOLE_FILE=str(sent_file),
        REMINDERS_DISPATCH_INTERVAL_SECONDS="0.5",
    )
    # After it is done, several more dispatch ticks: nothing may be sent again.
    log = run_worker_and_beat(
        env,
        tmp_path,
        done=lambda: all(statuses(engine)[key] in ("sent", "skipped") for key in due_keys),
        settle=2,
    )

    final = statuses(engine)
    # Enrolled late, both SMS are overdue. With one SMS a day the current (day 1) one goes,
    # the stale first-night one would only fit tomorrow, past its validity; with room for
    # both, each goes once. Email is not capped.
    first_night_sms = next(key for key in due_keys if key.endswith(":first_night:sms"))
    skipped = {first_night_sms} if sms_per_day == 1 else set()
    expected = dict.fromkeys(due_keys, "sent") | dict.fromkeys(skipped, "skipped")
    assert {key: final[key] for key in due_keys} == expected, log
    sends = Counter(
        json.loads(line)["idempotency_key"] for line in sent_file.read_text().splitlines()
    )
    assert sends == Counter(dict.fromkeys(due_keys - skipped, 1))
    not_due = set(final) - due_keys
    assert not_due and all(final[key] == "pending" for key in not_due)


def test_beat_emails_a_warning_alert_that_the_api_could_not_send(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    make_clinic(engine, email="alerts@glow.example")
    make_patient_with_treatment(engine)
    with session_scope(engine) as session:  # stored as due, as after a failed first try
        now = datetime.now(UTC)
        alert_id = handle_inbound(session, Inbound("+15555550123", "pus", "SMe2e"), now).alert_id
    sent_file = tmp_path / "sent.jsonl"
    env = service_env(
        database_url,
        redis_url,
        key_prefix,
        tmp_path / "var",
        REMINDERS_CONSOLE_FILE=str(sent_file),
        REMINDERS_SWEEP_INTERVAL_SECONDS="0.5",
    )
    # After it is sent, more ticks: the alert must not go twice.
    done = lambda: alerted_at(engine, alert_id) is not None  # noqa: E731
    log = run_worker_and_beat(env, tmp_path, done, settle=1.5)
    assert done(), log
    [mail] = [json.loads(line) for line in sent_file.read_text().splitlines()]
    assert mail["to"] == "alerts@glow.example" and "pus" in mail["subject"]


def alerted_at(engine: Engine, reply_id: int | None) -> datetime | None:
    with engine.connect() as connection:
        return connection.execute(
            select(REPLIES.c.alerted_at).where(REPLIES.c.id == reply_id)
        ).scalar_one()
