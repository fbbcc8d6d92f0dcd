"""Operator actions: each changes the row as promised and leaves an audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.db import session_scope
from reminders.models import AuditEntry
from reminders.ops import actions as operations
from reminders.outbox import lifecycle as lc
from tests.opsdata import NOW, Outbox


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(engine)


def audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)).all())


def test_retry_queues_a_dead_message_now_and_records_who_did_it(outbox: Outbox) -> None:
    dead = outbox.add(lc.DEAD, attempts=6, last_error="timeout", lease_owner="w:1")
    with session_scope(outbox.engine) as session:
        result = operations.retry(session, dead, "maria", NOW)
    assert result.ok
    row = outbox.row(dead)
    assert (row.status, row.next_attempt_at, row.attempts) == (lc.PENDING, NOW, 0)
    assert row.last_error is None and row.lease_owner is None
    [entry] = audit(outbox.engine)
    assert (entry.actor, entry.action, entry.message_id) == ("maria", "retry", dead)
    assert entry.detail == "dead -> pending" and entry.at == NOW


def test_plain_retry_refuses_an_unknown_message_that_the_provider_may_have(
    outbox: Outbox,
) -> None:
    unknown = outbox.add(lc.UNKNOWN)
    with session_scope(outbox.engine) as session:
        result = operations.retry(session, unknown, "maria", NOW)
    assert not result.ok and "reconcile" in result.detail
    assert outbox.row(unknown).status == lc.UNKNOWN
    assert audit(outbox.engine) == []


def test_resend_of_an_unknown_message_needs_the_explicit_choice_and_is_audited(
    outbox: Outbox,
) -> None:
    unknown = outbox.add(lc.UNKNOWN)
    with session_scope(outbox.engine) as session:
        result = operations.retry(session, unknown, "maria", NOW, resend_unknown=True)
    assert result.ok and outbox.row(unknown).status == lc.PENDING
    assert [e.action for e in audit(outbox.engine)] == ["resend_unknown"]


@pytest.mark.parametrize("status", [lc.PENDING, lc.CLAIMED, lc.UNKNOWN, lc.FAILED, lc.DEAD])
def test_cancel_stops_a_message_not_yet_with_the_provider(outbox: Outbox, status: str) -> None:
    message = outbox.add(status)
    with session_scope(outbox.engine) as session:
        assert operations.cancel(session, message, "ops", NOW).ok
    row = outbox.row(message)
    assert row.status == lc.CANCELLED and row.reason == "cancelled by ops"
    assert [(e.action, e.detail) for e in audit(outbox.engine)] == [
        ("cancel", f"{status} -> cancelled")
    ]


@pytest.mark.parametrize("status", [lc.SENDING, lc.SENT, lc.DELIVERED, lc.CANCELLED])
def test_cancel_refuses_final_or_in_flight_messages(outbox: Outbox, status: str) -> None:
    message = outbox.add(status)
    with session_scope(outbox.engine) as session:
        result = operations.cancel(session, message, "ops", NOW)
    assert not result.ok and f"cannot cancel a {status} message" in result.detail
    assert outbox.row(message).status == status and audit(outbox.engine) == []


def test_retry_refuses_a_delivered_message(outbox: Outbox) -> None:
    delivered = outbox.add(lc.DELIVERED)
    with session_scope(outbox.engine) as session:
        assert not operations.retry(session, delivered, "ops", NOW).ok
    assert outbox.row(delivered).status == lc.DELIVERED


def test_mark_resolved_keeps_the_status_and_records_the_acknowledgement(outbox: Outbox) -> None:
    failed = outbox.add(lc.FAILED, updated_at=NOW - timedelta(minutes=5))
    with session_scope(outbox.engine) as session:
        result = operations.resolve(session, failed, "ana", NOW)
    assert result.ok and outbox.row(failed).status == lc.FAILED
    [entry] = audit(outbox.engine)
    assert (entry.action, entry.detail) == ("resolve", "marked resolved while failed")


def test_an_action_on_a_missing_message_is_refused_and_writes_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        result = operations.cancel(session, 999, "ops", NOW)
    assert not result.ok and result.detail == "no such message"
    assert audit(engine) == []


def test_an_action_on_another_clinics_message_reads_as_missing_and_writes_nothing(
    outbox: Outbox,
) -> None:
    dead = outbox.add(lc.DEAD)
    other = frozenset({"clinic-b"})
    with session_scope(outbox.engine) as session:
        results = [
            operations.retry(session, dead, "op:bea", NOW, clinic_ids=other),
            operations.cancel(session, dead, "op:bea", NOW, clinic_ids=other),
            operations.resolve(session, dead, "op:bea", NOW, clinic_ids=other),
        ]
    assert [(r.ok, r.found, r.detail) for r in results] == [(False, False, "no such message")] * 3
    assert outbox.row(dead).status == lc.DEAD and audit(outbox.engine) == []
    with session_scope(outbox.engine) as session:
        own = operations.retry(session, dead, "op:ana", NOW, clinic_ids=frozenset({"clinic-a"}))
    assert own.ok and outbox.row(dead).status == lc.PENDING
