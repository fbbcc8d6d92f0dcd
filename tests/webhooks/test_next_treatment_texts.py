"""A course of sessions through the real flow: the day-before text never costs day 3's."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from reminders.models import MESSAGES
from reminders.outbox.claim import claim_due
from tests.fakes.channels import ScriptedChannel
from tests.outbox_helpers import deliverer
from tests.webhooks.conftest import Hooks, treatment_completed

ENDED = datetime.fromisoformat("2030-05-01T15:30:00+02:00")
SESSION = ENDED + timedelta(days=28)


def post_completed(hooks: Hooks, at: datetime, **extra: object) -> None:
    hooks.clock.now = at + timedelta(minutes=1)
    response = hooks.post_event("treatment.completed", treatment_completed(**extra))
    assert response.status_code == 202, response.text


def deliver_until(hooks: Hooks, until: datetime) -> None:
    """Send every row as it comes due, one due time after another, as the workers would."""
    clock = [hooks.clock.now]
    sender = deliverer(hooks.engine, ScriptedChannel("any"), clock=lambda: clock[0])
    for _ in range(100):
        with hooks.engine.connect() as connection:
            due = connection.execute(
                sa.select(sa.func.min(MESSAGES.c.next_attempt_at)).where(
                    MESSAGES.c.status == "pending", MESSAGES.c.next_attempt_at <= until
                )
            ).scalar_one()
        if due is None:
            return
        clock[0] = max(clock[0], due)
        sender.deliver(claim_due(hooks.engine, clock[0], 100, "test", timedelta(minutes=2)), "test")
    raise AssertionError("rows kept coming due")


def row(hooks: Hooks, treatment: str, key: str, channel: str) -> dict[str, object]:
    [found] = [
        item
        for item in hooks.stored_plan()
        if (item["treatment_id"], item["key"], item["channel"]) == (treatment, key, channel)
    ]
    return found


def test_the_next_treatments_day_3_keeps_its_text_after_the_session_reminders_went(
    hooks: Hooks,
) -> None:
    post_completed(hooks, ENDED, treatment__next_session_at=SESSION.isoformat())
    deliver_until(hooks, SESSION)
    assert row(hooks, "t-1", "session_week_before", "sms")["status"] == "sent"
    day_before = row(hooks, "t-1", "session_day_before", "sms")
    assert day_before["status"] == "skipped"
    assert "next treatment's first days" in str(day_before["reason"])
    assert row(hooks, "t-1", "session_day_before", "email")["status"] == "sent"

    post_completed(
        hooks,
        SESSION,
        treatment="t-2",
        treatment__ended_at=SESSION.isoformat(),
        treatment__session_number=2,
    )
    deliver_until(hooks, SESSION + timedelta(days=5))
    for key in ("first_night", "day_1", "day_3"):
        assert row(hooks, "t-2", key, "sms")["status"] == "sent", key
