"""REMINDERS_MAX_ATTEMPTS is a ceiling whatever path brings a row back to pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from reminders.channels.base import Outgoing
from reminders.delivery.policy import RetryPolicy
from reminders.models import MESSAGES
from reminders.outbox.claim import claim_due
from reminders.outbox.recovery import NOT_FOUND, Finding, reconcile_unknown, sweep_expired_leases
from tests.fakes.channels import FixedFinder, ScriptedChannel
from tests.outbox_helpers import deliverer, due_rows, row

LEASE = timedelta(minutes=2)


class WorkerKilled(BaseException):
    """The worker process dies while the request is in flight."""


class DyingChannel:
    """A channel whose send never returns: the worker is killed mid-send."""

    def send(self, outgoing: Outgoing) -> str:
        raise WorkerKilled


def test_a_row_lost_on_its_last_attempt_and_never_received_is_dead_not_sent_again(
    engine: Engine,
) -> None:
    start = datetime.now(UTC)
    [message_id] = due_rows(engine, now=start)
    with engine.begin() as connection:  # five transient failures so far
        connection.execute(update(MESSAGES).values(attempts=5))
    retry = RetryPolicy(max_attempts=6)
    with pytest.raises(WorkerKilled):  # the sixth attempt: killed mid-send
        deliverer(engine, DyingChannel(), retry=retry, clock=lambda: start).deliver(
            [message_id], "w1"
        )
    later = start + timedelta(minutes=5)
    sweep_expired_leases(engine, start + timedelta(minutes=3))
    reconcile_unknown(
        engine, {"sms": FixedFinder(Finding(NOT_FOUND))}, later, timedelta(seconds=60), LEASE
    )
    channel = ScriptedChannel("sms")
    claimed = claim_due(engine, later, 10, "dispatcher", LEASE)
    deliverer(engine, channel, retry=retry, clock=lambda: later).deliver(claimed, "w2")
    stored = row(engine, message_id)
    assert channel.sent == []
    assert (stored.status, stored.attempts) == ("dead", 6)
    assert "6 attempts" in stored.reason


def test_a_row_with_attempts_left_is_sent_after_reconciliation(engine: Engine) -> None:
    start = datetime.now(UTC)
    [message_id] = due_rows(engine, now=start)
    retry = RetryPolicy(max_attempts=6)
    with pytest.raises(WorkerKilled):
        deliverer(engine, DyingChannel(), retry=retry, clock=lambda: start).deliver(
            [message_id], "w1"
        )
    later = start + timedelta(minutes=5)
    sweep_expired_leases(engine, start + timedelta(minutes=3))
    reconcile_unknown(
        engine, {"sms": FixedFinder(Finding(NOT_FOUND))}, later, timedelta(seconds=60), LEASE
    )
    channel = ScriptedChannel("sms")
    claimed = claim_due(engine, later, 10, "dispatcher", LEASE)
    deliverer(engine, channel, retry=retry, clock=lambda: later).deliver(claimed, "w2")
    assert len(channel.sent) == 1
    assert (row(engine, message_id).status, row(engine, message_id).attempts) == ("sent", 2)
