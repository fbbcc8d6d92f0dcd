"""Delivering claimed rows: outcomes, retries, send-time re-checks and throttling."""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from reminders.channels.base import Outgoing, SendError
from reminders.channels.senders import Sender
from reminders.consent.gate import RowLockGate, gate_for
from reminders.consent.optout import stop_number
from reminders.delivery.policy import RetryPolicy
from reminders.delivery.throttle import Grant, LimiterUnavailableError
from reminders.delivery.transmitter import STOPPING
from reminders.models import CLINICS, MESSAGES, PATIENTS, TREATMENTS
from reminders.outbox.claim import claim_due, text_digest
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment
from tests.fakes.channels import ScriptedChannel
from tests.outbox_helpers import deliverer, due_rows, row


def test_a_due_sms_is_sent_once_and_recorded_with_the_provider_id(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    channel = ScriptedChannel("sms")
    report = deliverer(engine, channel).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert report.counts == {"sent": 1}
    assert [o.message_id for o in channel.sent] == [message_id]
    assert stored.status == "sent" and stored.provider_id == f"FAKE{message_id}"
    assert stored.attempts == 1 and stored.lease_owner is None


def test_a_row_no_longer_claimed_is_not_sent(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    with engine.begin() as connection:
        connection.execute(update(MESSAGES).values(status="cancelled"))
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([message_id], "w1")
    assert channel.sent == [] and row(engine, message_id).status == "cancelled"


def test_a_transient_failure_retries_later_with_backoff(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    channel = ScriptedChannel("sms", [SendError("transient", "too many requests", "20429")])
    before = datetime.now(UTC)
    deliverer(engine, channel, retry=RetryPolicy(6, 30, 3600)).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert stored.status == "pending" and stored.attempts == 1
    assert stored.provider_code == "20429"
    assert before + timedelta(seconds=2) < stored.next_attempt_at <= before + timedelta(seconds=31)


def test_the_last_allowed_transient_failure_makes_the_message_dead(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    channel = ScriptedChannel("sms", [SendError("transient", "server error", "500")])
    deliverer(engine, channel, retry=RetryPolicy(max_attempts=1)).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert stored.status == "dead" and "1 attempts" in stored.reason


def test_a_permanent_failure_fails_with_the_code_and_a_readable_reason(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    error = SendError("permanent", "21211: the phone number is not valid", "21211")
    deliverer(engine, ScriptedChannel("sms", [error])).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert stored.status == "failed" and stored.provider_code == "21211"
    assert "not valid" in stored.reason


def test_an_ambiguous_failure_goes_to_unknown_and_is_not_retried(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    error = SendError("ambiguous", "timed out after sending", None)
    deliverer(engine, ScriptedChannel("sms", [error])).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert stored.status == "unknown" and stored.next_attempt_at is None


def test_an_unsubscribed_number_calls_the_opt_out_hook(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    opted_out: list[int] = []
    error = SendError("permanent", "21610: the recipient replied STOP", "21610", opt_out=True)
    deliverer(engine, ScriptedChannel("sms", [error]), on_unsubscribed=opted_out.append).deliver(
        [message_id], "w1"
    )
    assert row(engine, message_id).status == "failed"
    assert opted_out == [row(engine, message_id).patient_id]


def test_a_cancelled_treatment_is_cancelled_at_send_time(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    with engine.begin() as connection:
        connection.execute(update(TREATMENTS).values(cancelled_at=datetime.now(UTC)))
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert channel.sent == [] and stored.status == "cancelled" and stored.attempts == 0


def test_a_patient_who_opted_out_is_skipped_at_send_time(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    with engine.begin() as connection:
        connection.execute(update(PATIENTS).values(sms_opted_out_at=datetime.now(UTC)))
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert channel.sent == [] and stored.status == "skipped" and "opted out" in stored.reason


def test_a_prompt_past_its_validity_is_skipped_not_sent_late(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    with engine.begin() as connection:
        connection.execute(
            update(MESSAGES).values(valid_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([message_id], "w1")
    assert channel.sent == [] and row(engine, message_id).status == "skipped"


def test_outside_the_window_a_prompt_waits_for_the_next_opening_without_an_attempt(
    engine: Engine,
) -> None:
    # A fixed hour, so the test means the same at any time of day (UTC patient).
    now = datetime.now(UTC).replace(hour=10, minute=30)
    [message_id] = due_rows(engine, now=now)
    closed_from, closed_to = time(11), time(12)
    with engine.begin() as connection:
        connection.execute(update(CLINICS).values(window_start=closed_from, window_end=closed_to))
    channel = ScriptedChannel("sms")
    deliverer(engine, channel, clock=lambda: now).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert channel.sent == [] and stored.status == "pending" and stored.attempts == 0
    assert stored.next_attempt_at.time().replace(second=0) == closed_from


def test_a_row_whose_clinic_window_cannot_work_fails_alone_and_another_clinics_row_goes(
    engine: Engine,
) -> None:
    [broken] = due_rows(engine)  # clinic-a's row
    make_clinic(engine, "clinic-b", window_start=time(0), window_end=time(0))
    other, treatment = make_patient_with_treatment(engine, "clinic-b", "p-2")
    assert other.id is not None and treatment.id is not None
    insert_due_messages(engine, 1, "clinic-b", other.id, treatment.id, datetime.now(UTC))
    [fine] = claim_due(engine, datetime.now(UTC), 1000, "test", timedelta(minutes=2))
    # As an older version could have stored it: a window that wraps past midnight.
    with engine.begin() as connection:
        connection.execute(
            update(CLINICS)
            .where(CLINICS.c.id == "clinic-a")
            .values(window_start=time(22), window_end=time(6))
        )
    channel = ScriptedChannel("sms")
    report = deliverer(engine, channel).deliver([broken, fine], "w1")
    assert report.counts == {"failed": 1, "sent": 1}
    assert [o.message_id for o in channel.sent] == [fine]
    assert row(engine, fine).status == "sent"
    failed = row(engine, broken)
    assert failed.status == "failed" and failed.attempts == 0
    assert "wraps past midnight" in failed.reason


class HalfLimiter:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def acquire(self, sender: str, want: int) -> Grant:
        self.asked.append((sender, want))
        return Grant(want // 2, 0.5)


def test_throttled_messages_wait_as_pending_without_counting_an_attempt(engine: Engine) -> None:
    ids = due_rows(engine, count=4)
    limiter = HalfLimiter()
    channel = ScriptedChannel("sms")
    platform = Sender(from_="+15550009999")
    deliverer(engine, channel, limiter=limiter, sms_sender=platform).deliver(ids, "w")
    statuses = sorted(row(engine, i).status for i in ids)
    assert statuses == ["pending", "pending", "sent", "sent"]
    assert limiter.asked == [("+15550009999", 4)]
    assert all(row(engine, i).attempts == 0 for i in ids if row(engine, i).status == "pending")


class DownLimiter:
    def acquire(self, sender: str, want: int) -> Grant:
        raise LimiterUnavailableError("rate limiter unavailable: connection refused")


def test_with_the_limiter_down_rows_go_back_to_pending_unsent_and_uncounted(
    engine: Engine,
) -> None:
    ids = due_rows(engine, count=2)
    channel = ScriptedChannel("sms")
    deliverer(engine, channel, limiter=DownLimiter()).deliver(ids, "w")
    assert channel.sent == []
    for message_id in ids:
        stored = row(engine, message_id)
        assert (stored.status, stored.attempts) == ("pending", 0)
        assert stored.reason == "rate limiter unavailable (Redis); waiting"


def test_only_the_first_sms_to_a_patient_carries_the_stop_wording(engine: Engine) -> None:
    first, second = due_rows(engine, count=2)
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([first], "w1")
    deliverer(engine, channel).deliver([second], "w1")
    assert ["Reply STOP" in outgoing.text for outgoing in channel.sent] == [True, False]


@pytest.mark.parametrize(("hours_after", "tonight"), [(0, True), (24, False)])
def test_the_first_night_email_is_worded_by_the_day_it_is_sent(
    engine: Engine, hours_after: int, tonight: bool
) -> None:
    [message_id] = due_rows(engine, channel="email", step_key="first_night")
    with engine.connect() as connection:
        ended = connection.execute(select(TREATMENTS.c.ended_at)).scalar_one()
    channel = ScriptedChannel("email")
    sending = ended + timedelta(hours=hours_after)
    deliverer(engine, channel, clock=lambda: sending).deliver([message_id], "w1")
    [email] = channel.sent
    assert ("Tonight" in email.text) is tonight and ("today" in email.text) is tonight


def test_the_daily_sms_cap_holds_at_send_time_and_the_newest_prompt_wins(
    engine: Engine,
) -> None:
    older, newer = due_rows(engine, count=2, caps=(1, 3))
    with engine.begin() as connection:
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == older)
            .values(due_at=datetime.now(UTC) - timedelta(hours=10))
        )
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([older, newer], "w1")
    assert [outgoing.message_id for outgoing in channel.sent] == [newer]
    held = row(engine, older)
    assert held.status == "pending" and held.attempts == 0 and "SMS cap" in held.reason
    assert held.next_attempt_at > datetime.now(UTC)


def test_a_prompt_the_cap_would_deliver_too_late_is_skipped(engine: Engine) -> None:
    # A fixed hour: near midnight the next day's opening would come before the validity ends.
    now = datetime.now(UTC).replace(hour=10, minute=30)
    older, newer = due_rows(engine, count=2, caps=(1, 3), now=now)
    with engine.begin() as connection:
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == older)
            .values(due_at=now - timedelta(hours=1), valid_until=now + timedelta(hours=1))
        )
    deliverer(engine, ScriptedChannel("sms"), clock=lambda: now).deliver([older, newer], "w1")
    assert row(engine, older).status == "skipped"
    assert "skipped rather than sent late" in row(engine, older).reason


class StopDuringFirstSend(ScriptedChannel):
    """The patient texts STOP while their first message is with the provider."""

    def __init__(self, engine: Engine) -> None:
        super().__init__("sms")
        self.engine = engine
        self.stop_committed_during_send: bool | None = None

    def send(self, outgoing: Outgoing) -> str:
        if self.stop_committed_during_send is None:
            stop = threading.Thread(
                target=stop_number,
                args=(self.engine, gate_for(self.engine), outgoing.to, datetime.now(UTC)),
            )
            stop.start()
            stop.join(timeout=1)
            self.stop_committed_during_send = not stop.is_alive()
        return super().send(outgoing)


def test_a_stop_during_a_batch_waits_for_the_send_and_stops_the_rest(any_engine: Engine) -> None:
    ids = due_rows(any_engine, count=3)
    channel = StopDuringFirstSend(any_engine)
    deliverer(any_engine, channel, concurrency=1, chunk_size=1).deliver(ids, "w1")
    assert len(channel.sent) == 1 and row(any_engine, ids[0]).status == "sent"
    for later in ids[1:]:
        # Skipped once the STOP is in, or (SQLite) back in the queue while it was being recorded.
        stored = row(any_engine, later)
        assert stored.status == "skipped" or (stored.status, stored.reason) == ("pending", STOPPING)
    # The STOP could not commit while the send it raced with was in flight: row lock on
    # PostgreSQL, file gate on SQLite.
    assert channel.stop_committed_during_send is False


class ChangedAtTheGate(RowLockGate):
    """A gate at which the patient's row changes just as the sender enters."""

    def __init__(self, engine: Engine, **values: object) -> None:
        self.engine, self.values = engine, values

    @contextmanager
    def sending(self, numbers: Iterable[str]) -> Iterator[set[str]]:
        with self.engine.begin() as connection:
            connection.execute(update(PATIENTS).values(**self.values))
        yield set()


def test_consent_is_read_after_entering_the_gate(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    channel = ScriptedChannel("sms")
    # A STOP commits just as the sender enters: consent must be read after.
    stopped = ChangedAtTheGate(engine, sms_opted_out_at=datetime.now(UTC))
    deliverer(engine, channel, gate=stopped).deliver([message_id], "w1")
    assert channel.sent == [] and row(engine, message_id).status == "skipped"


class NumberBeingStopped(RowLockGate):
    """A gate on which a STOP for every number is being recorded."""

    @contextmanager
    def sending(self, numbers: Iterable[str]) -> Iterator[set[str]]:
        yield set(numbers)

    def stopping(self, number: str) -> bool:
        return True


def test_an_sms_to_a_number_being_stopped_waits_in_the_queue_unsent(engine: Engine) -> None:
    [sms] = due_rows(engine)
    channel = ScriptedChannel("sms")
    before = datetime.now(UTC)
    deliverer(engine, channel, gate=NumberBeingStopped()).deliver([sms], "w1")
    stored = row(engine, sms)
    assert channel.sent == [] and stored.status == "pending" and stored.attempts == 0
    assert "STOP" in stored.reason and stored.next_attempt_at > before + timedelta(seconds=1)


def test_an_email_is_not_held_back_by_a_stop_being_recorded(engine: Engine) -> None:
    [email] = due_rows(engine, channel="email")
    channel = ScriptedChannel("email")
    deliverer(engine, channel, gate=NumberBeingStopped()).deliver([email], "w1")
    assert len(channel.sent) == 1 and row(engine, email).status == "sent"


class StopArrivesAfterFirstSend(RowLockGate):
    """A gate the chunk enters freely; a STOP starts waiting once the first SMS has gone."""

    def __init__(self, channel: ScriptedChannel) -> None:
        self.channel = channel

    def stopping(self, number: str) -> bool:
        return len(self.channel.sent) >= 1


def test_a_stop_that_starts_waiting_mid_chunk_stops_the_sends_not_yet_started(
    engine: Engine,
) -> None:
    ids = due_rows(engine, count=3)
    channel = ScriptedChannel("sms")
    gate = StopArrivesAfterFirstSend(channel)
    deliverer(engine, channel, gate=gate, concurrency=1, chunk_size=3).deliver(ids, "w1")
    stored = [row(engine, i) for i in ids]
    assert len(channel.sent) == 1
    assert sorted(r.status for r in stored) == ["pending", "pending", "sent"]
    assert {r.reason for r in stored if r.status == "pending"} == {STOPPING}


class SlowSecondSend(ScriptedChannel):
    """The first send hits a bug; the second, on another thread, is still at the provider."""

    def __init__(self) -> None:
        super().__init__("sms")
        self.calls = 0
        self.finished_at = 0.0
        self.second_started = threading.Event()

    def send(self, outgoing: Outgoing) -> str:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call == 1:
            # Fail only once the other send is running, or the pool may cancel it unstarted.
            assert self.second_started.wait(5), "the second send never started"
            raise RuntimeError("a bug, not a provider error")
        self.second_started.set()
        clock.sleep(0.3)
        self.finished_at = clock.monotonic()
        return super().send(outgoing)


class LeavingGate(RowLockGate):
    """Records when the chunk leaves the gate."""

    def __init__(self) -> None:
        self.left_at = 0.0

    @contextmanager
    def sending(self, numbers: Iterable[str]) -> Iterator[set[str]]:
        try:
            yield set()
        finally:
            self.left_at = clock.monotonic()


def test_a_failing_chunk_leaves_the_gate_only_after_its_running_sends_finish(
    engine: Engine,
) -> None:
    ids = due_rows(engine, count=2)
    channel, gate = SlowSecondSend(), LeavingGate()
    with pytest.raises(RuntimeError):
        deliverer(engine, channel, gate=gate, concurrency=2, chunk_size=2).deliver(ids, "w1")
    assert channel.finished_at > 0 and gate.left_at >= channel.finished_at


class SlowProvider(ScriptedChannel):
    """Each send takes half a minute of a fake clock."""

    def __init__(self) -> None:
        super().__init__("sms")
        self.now = datetime.now(UTC)

    def clock(self) -> datetime:
        return self.now

    def send(self, outgoing: Outgoing) -> str:
        self.now += timedelta(seconds=30)
        return super().send(outgoing)


def test_no_send_starts_that_could_outlast_the_rows_lease(engine: Engine) -> None:
    ids = due_rows(engine, count=3)
    channel = SlowProvider()
    sender = deliverer(
        engine,
        channel,
        clock=channel.clock,
        lease=timedelta(seconds=100),
        longest_send=timedelta(seconds=45),
        concurrency=1,
        chunk_size=3,
    )
    sender.deliver(ids, "w1")
    # Sends start at 0 s and 30 s; one starting at 60 s could run to 105 s, past the lease.
    stored = sorted((row(engine, i) for i in ids), key=lambda r: r.status)
    assert len(channel.sent) == 2
    assert [r.status for r in stored] == ["pending", "sent", "sent"]
    assert stored[0].attempts == 0 and "lease" in stored[0].reason


def test_a_number_changed_just_before_sending_is_not_texted_and_the_row_waits(
    engine: Engine,
) -> None:
    [message_id] = due_rows(engine)
    channel = ScriptedChannel("sms")
    moved = ChangedAtTheGate(engine, phone="+15555550199")  # the clinic changes the number
    deliverer(engine, channel, gate=moved).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert channel.sent == []
    assert stored.status == "pending" and stored.attempts == 0 and "changed" in stored.reason


class DigestWitness(ScriptedChannel):
    """Reads, as each request starts, the digest committed on the row being sent."""

    def __init__(self, engine: Engine, name: str = "sms") -> None:
        super().__init__(name)
        self.engine = engine
        self.seen: dict[int, tuple[str | None, str]] = {}

    def send(self, outgoing: Outgoing) -> str:
        with self.engine.connect() as connection:  # another connection: only committed data
            stored = connection.execute(
                select(MESSAGES.c.sent_digest).where(MESSAGES.c.id == outgoing.message_id)
            ).scalar_one()
        self.seen[outgoing.message_id] = (stored, outgoing.text)
        return super().send(outgoing)


def test_each_sms_text_digest_is_committed_before_its_request(engine: Engine) -> None:
    ids = due_rows(engine, count=3)
    witness = DigestWitness(engine)
    deliverer(engine, witness, concurrency=2).deliver(ids, "w1")
    assert set(witness.seen) == set(ids)
    for stored, text in witness.seen.values():
        assert stored == text_digest(text)


def test_an_email_keeps_no_digest(engine: Engine) -> None:
    ids = due_rows(engine, count=1, channel="email")
    witness = DigestWitness(engine, "email")
    deliverer(engine, witness).deliver(ids, "w1")
    assert [stored for stored, _text in witness.seen.values()] == [None]
    assert row(engine, ids[0]).status == "sent"


class CountingLimiter:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def acquire(self, sender: str, want: int) -> Grant:
        self.asked.append((sender, want))
        return Grant(want, 0.0)


def test_each_clinic_sends_as_its_own_sender_rate_limited_and_recorded_per_sender(
    engine: Engine,
) -> None:
    now = datetime.now(UTC)
    always = dict(window_start=time(0), window_end=time(0), sms_per_day=100, sms_per_week=100)
    make_clinic(engine, "clinic-a", **always)
    make_clinic(engine, "clinic-b", sms_from="+34911000200", **always)
    for clinic, count in (("clinic-a", 2), ("clinic-b", 3)):
        patient, treatment = make_patient_with_treatment(engine, clinic, external_id=clinic)
        assert patient.id is not None and treatment.id is not None
        due = now - timedelta(minutes=1)
        insert_due_messages(engine, count, clinic, patient.id, treatment.id, due)
    ids = claim_due(engine, now, 100, "w", timedelta(minutes=2))
    limiter, channel = CountingLimiter(), ScriptedChannel("sms")
    platform = Sender(from_="+15550009999")
    deliverer(engine, channel, limiter=limiter, sms_sender=platform).deliver(ids, "w")
    assert sorted(limiter.asked) == [("+15550009999", 2), ("+34911000200", 3)]
    sent_as = {(o.sender.key if o.sender else None) for o in channel.sent}
    assert sent_as == {"+15550009999", "+34911000200"}
    with engine.connect() as connection:
        stored = connection.execute(select(MESSAGES.c.clinic_id, MESSAGES.c.sender)).all()
    assert sorted(set(stored)) == [("clinic-a", "+15550009999"), ("clinic-b", "+34911000200")]
