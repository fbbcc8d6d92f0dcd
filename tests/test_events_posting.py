"""Events reach each clinic's system signed, at least once, retried, dead after N, apart."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.base import SendError
from reminders.db import session_scope
from reminders.events import delivery as ev
from reminders.events.emission import emit
from reminders.events.listing import list_events, retry_event
from reminders.events.posting import Poster
from reminders.models import AUDIT, Clinic
from reminders.outbox.status_callbacks import Report, apply_report
from tests.events_helpers import events, give_endpoint
from tests.factories import make_clinic
from tests.fakes.channels import ScriptedChannel
from tests.fakes.event_receiver import EventReceiver
from tests.outbox_helpers import deliverer, due_rows

NOW = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)
POLICY = ev.EventPolicy(max_attempts=3, base_seconds=30, cap_seconds=600)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def poster() -> Iterator[Poster]:
    found = Poster(timeout_seconds=0.5, allow_local_http=True)
    yield found
    found.close()


@pytest.fixture
def receivers() -> Iterator[tuple[EventReceiver, EventReceiver]]:
    with EventReceiver() as a, EventReceiver() as b:
        yield a, b


def clinic_at(engine: Engine, clinic_id: str, receiver: EventReceiver) -> None:
    """A clinic whose events go to `receiver`, which verifies them with the clinic's secret."""
    make_clinic(engine, clinic_id)
    receiver.secret = give_endpoint(engine, clinic_id, receiver.url)


def queue(engine: Engine, clinic_id: str, count: int = 1, now: datetime = NOW) -> None:
    """`count` patient.replied events for the clinic, as a reply would queue them."""
    with session_scope(engine) as session:
        clinic = session.get(Clinic, clinic_id)
        assert clinic is not None
        for n in range(count):
            data = {"reply": {"id": n, "text": f"reply {n} of {clinic_id}"}}
            emit(session, clinic, "patient.replied", data, now)


def post(engine: Engine, poster: Poster, clock: Clock, policy: ev.EventPolicy = POLICY) -> dict:
    return ev.deliver_due_events(engine, poster, clock, policy, random.Random(1))


def test_two_clinics_each_receive_only_their_own_events_signed_with_their_secret(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, b = receivers
    clinic_at(engine, "clinic-a", a)
    clinic_at(engine, "clinic-b", b)
    queue(engine, "clinic-a", 2)
    queue(engine, "clinic-b", 1)
    assert post(engine, poster, Clock()) == {"delivered": 3}
    assert all(r.verified for r in a.received + b.received)
    assert [p["data"]["reply"]["text"] for p in a.payloads()] == [
        "reply 0 of clinic-a", "reply 1 of clinic-a"
    ]  # fmt: skip
    assert [p["data"]["reply"]["text"] for p in b.payloads()] == ["reply 0 of clinic-b"]
    assert {e.status for e in events(engine)} == {"delivered"}
    assert {e.delivered_at for e in events(engine)} == {NOW}
    assert post(engine, poster, Clock(NOW + timedelta(hours=1))) == {}  # nothing posted twice


def test_a_post_signed_for_another_clinic_does_not_verify(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, b = receivers
    clinic_at(engine, "clinic-a", a)
    clinic_at(engine, "clinic-b", b)
    b.secret = a.secret  # clinic B's receiver holding A's secret: our posts to B fail its check
    queue(engine, "clinic-b")
    assert post(engine, poster, Clock()) == {"retry": 1}
    assert [r.verified for r in b.received] == [False]
    assert events(engine)[0].last_error == "HTTP 401"


def test_a_failure_is_retried_later_with_the_same_webhook_id_then_delivered(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, _ = receivers
    clinic_at(engine, "clinic-a", a)
    queue(engine, "clinic-a")
    a.behaviour.script = [500]
    clock = Clock()
    assert post(engine, poster, clock) == {"retry": 1}
    [failed] = events(engine)
    assert failed.status == "pending" and failed.attempts == 1 and failed.lease_until is None
    assert failed.last_error == "HTTP 500"
    assert NOW + timedelta(seconds=3) <= failed.next_attempt_at <= NOW + timedelta(seconds=30)
    assert post(engine, poster, clock) == {}  # not due yet
    clock.now = failed.next_attempt_at
    assert post(engine, poster, clock) == {"delivered": 1}
    first, second = a.received
    assert first.webhook_id == second.webhook_id == failed.webhook_id  # receivers dedupe on it
    assert events(engine)[0].attempts == 2


def test_after_n_failures_an_event_is_dead_listed_and_an_audited_retry_revives_it(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, _ = receivers
    clinic_at(engine, "clinic-a", a)
    queue(engine, "clinic-a")
    a.behaviour.status = 503
    clock = Clock()
    outcomes = []
    for _ in range(POLICY.max_attempts):
        outcomes.append(post(engine, poster, clock))
        clock.now += timedelta(hours=1)
    assert outcomes == [{"retry": 1}, {"retry": 1}, {"dead": 1}]
    [dead] = events(engine)
    assert (dead.status, dead.attempts, dead.next_attempt_at) == ("dead", 3, None)
    with Session(engine) as session:
        assert [e.id for e in list_events(session, None, status="dead")] == [dead.id]
        assert list_events(session, frozenset({"clinic-b"})) == []
    assert post(engine, poster, clock) == {}
    a.behaviour.status = 200
    with session_scope(engine) as session:
        assert not retry_event(session, dead.id, "op:ana", clock.now, frozenset({"clinic-b"}))
        assert retry_event(session, dead.id, "op:ana", clock.now)
        assert not retry_event(session, dead.id, "op:ana", clock.now)  # no longer dead
    assert post(engine, poster, clock) == {"delivered": 1}
    with engine.connect() as connection:
        [entry] = connection.execute(sa.select(AUDIT)).all()
    assert (entry.actor, entry.action, entry.clinic_id, entry.target) == (
        "op:ana", "event retry", "clinic-a", f"event:{dead.id}"
    )  # fmt: skip


def test_a_hanging_endpoint_times_out_without_delaying_another_clinic(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, b = receivers
    clinic_at(engine, "clinic-a", a)
    clinic_at(engine, "clinic-b", b)
    queue(engine, "clinic-a", 3)
    queue(engine, "clinic-b", 3)
    a.behaviour.hang_seconds = 30
    started = time.monotonic()
    assert post(engine, poster, Clock()) == {"retry": 1, "released": 2, "delivered": 3}
    assert time.monotonic() - started < 5  # one 0.5 s timeout, not three, nor 30 s
    assert len(b.payloads()) == 3 and len(a.received) == 1
    stuck = events(engine, "clinic-a")
    assert [e.attempts for e in stuck] == [1, 0, 0]  # the rest were handed back unattempted
    assert stuck[0].last_error.startswith("timed out")
    assert {e.lease_until for e in stuck} == {None}


def test_one_clinics_backlog_does_not_crowd_others_out_of_a_batch(
    engine: Engine, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, b = receivers
    clinic_at(engine, "clinic-a", a)
    clinic_at(engine, "clinic-b", b)
    queue(engine, "clinic-a", 30, now=NOW - timedelta(hours=1))
    queue(engine, "clinic-b", 1)
    policy = ev.EventPolicy(batch=6, per_clinic=5)
    claimed = ev.claim(engine, ev.due_ids(engine, NOW, policy), NOW, policy.lease)
    assert sorted(job.clinic_id for job in claimed) == ["clinic-a"] * 5 + ["clinic-b"]


def test_a_claimed_event_is_not_claimed_again_until_its_lease_runs_out(
    engine: Engine, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, _ = receivers
    clinic_at(engine, "clinic-a", a)
    queue(engine, "clinic-a")
    ids = ev.due_ids(engine, NOW, POLICY)
    assert len(ev.claim(engine, ids, NOW, POLICY.lease)) == 1
    assert ev.claim(engine, ids, NOW, POLICY.lease) == []  # a second poster racing: nothing
    assert ev.due_ids(engine, NOW + timedelta(minutes=1), POLICY) == []
    later = NOW + POLICY.lease + timedelta(seconds=1)  # the first poster died
    assert len(ev.claim(engine, ev.due_ids(engine, later, POLICY), later, POLICY.lease)) == 1


def test_redirects_are_not_followed(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, _ = receivers
    clinic_at(engine, "clinic-a", a)
    queue(engine, "clinic-a")
    a.behaviour.status = 302
    assert post(engine, poster, Clock()) == {"retry": 1}
    assert events(engine)[0].last_error == "HTTP 302: redirects are not followed"


def test_plain_http_is_refused_unless_allowed_for_this_machine(
    engine: Engine, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, _ = receivers
    clinic_at(engine, "clinic-a", a)
    queue(engine, "clinic-a")
    strict = Poster(timeout_seconds=0.5)
    try:
        assert post(engine, strict, Clock()) == {"retry": 1}
    finally:
        strict.close()
    assert a.received == []
    assert "REMINDERS_EVENTS_ALLOW_LOCAL_HTTP" in events(engine)[0].last_error


def test_a_send_never_waits_for_a_hanging_endpoint(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, _ = receivers
    ids = due_rows(engine, count=2, now=NOW)
    a.secret = give_endpoint(engine, "clinic-a", a.url)
    a.behaviour.hang_seconds = 30
    refused = SendError("permanent", "the number is not valid", "21211")
    started = time.monotonic()
    deliverer(engine, ScriptedChannel("sms", [refused]), clock=lambda: NOW).deliver(ids, "w1")
    apply_report(engine, Report(ids[1], f"FAKE{ids[1]}", "delivered"), NOW)
    # Far less than the endpoint's hang (a loaded machine may be slow, never 30 s slow).
    assert time.monotonic() - started < a.behaviour.hang_seconds / 3
    assert a.received == []
    assert [(e.event_type, e.status) for e in events(engine)] == [
        ("message.failed", "pending"), ("message.delivered", "pending")
    ]  # fmt: skip
    assert post(engine, poster, Clock()) == {"retry": 1, "released": 1}  # beat's business


def test_a_clinic_whose_endpoint_failed_lately_takes_its_turn_after_the_others(
    engine: Engine, poster: Poster, receivers: tuple[EventReceiver, EventReceiver]
) -> None:
    a, b = receivers
    clinic_at(engine, "clinic-a", a)
    clinic_at(engine, "clinic-b", b)
    queue(engine, "clinic-a")
    a.behaviour.status = 500
    assert post(engine, poster, Clock()) == {"retry": 1}
    queue(engine, "clinic-a")  # a fresh event of the failing clinic, due now
    queue(engine, "clinic-b")
    one_thread = ev.EventPolicy(threads=1)
    assert post(engine, poster, Clock(), one_thread) == {"retry": 1, "delivered": 1}
    assert b.received[0].at < a.received[-1].at  # clinic-a sorts first, yet waited
