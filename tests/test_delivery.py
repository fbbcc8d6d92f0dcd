"""Delivering claimed rows: outcomes, retries, send-time re-checks and throttling."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine

from reminders.channels.base import SendError
from reminders.delivery import RetryPolicy
from reminders.models import CLINICS, MESSAGES, PATIENTS, TREATMENTS
from reminders.ratelimit import Grant, LimiterUnavailableError
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
    [message_id] = due_rows(engine)
    hour = datetime.now(UTC).hour
    closed_from, closed_to = time((hour + 1) % 24), time((hour + 2) % 24)
    # The clinic's window opens an hour from now (UTC patient), so now is outside it.
    with engine.begin() as connection:
        connection.execute(update(CLINICS).values(window_start=closed_from, window_end=closed_to))
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([message_id], "w1")
    stored = row(engine, message_id)
    assert channel.sent == [] and stored.status == "pending" and stored.attempts == 0
    assert stored.next_attempt_at.time().replace(second=0) == closed_from


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
    deliverer(engine, channel, limiter=limiter, senders={"sms": "+15550009999"}).deliver(ids, "w")
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
    older, newer = due_rows(engine, count=2, caps=(1, 3))
    with engine.begin() as connection:
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == older)
            .values(
                due_at=datetime.now(UTC) - timedelta(hours=1),
                valid_until=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    deliverer(engine, ScriptedChannel("sms")).deliver([older, newer], "w1")
    assert row(engine, older).status == "skipped"
    assert "skipped rather than sent late" in row(engine, older).reason


class StopDuringFirstSend(ScriptedChannel):
    """The patient replies STOP while their first message is with the provider."""

    def __init__(self, engine: Engine) -> None:
        super().__init__("sms")
        self.engine = engine
        self.opt_out_finished_during_send: bool | None = None

    def send(self, outgoing):  # type: ignore[no-untyped-def]
        if self.opt_out_finished_during_send is None:
            import threading

            def opt_out() -> None:
                with self.engine.begin() as connection:
                    connection.execute(update(PATIENTS).values(sms_opted_out_at=datetime.now(UTC)))

            thread = threading.Thread(target=opt_out)
            thread.start()
            thread.join(timeout=1)
            self.opt_out_finished_during_send = not thread.is_alive()
        return super().send(outgoing)


def test_a_stop_during_a_batch_stops_the_rest_of_the_batch(any_engine: Engine) -> None:
    ids = due_rows(any_engine, count=3)
    channel = StopDuringFirstSend(any_engine)
    deliverer(any_engine, channel, concurrency=1, chunk_size=1).deliver(ids, "w1")
    statuses = sorted(row(any_engine, i).status for i in ids)
    assert len(channel.sent) == 1
    assert statuses == ["sent", "skipped", "skipped"]
    if any_engine.dialect.name == "postgresql":
        # The opt-out could not commit while the send it raced with was in flight.
        assert channel.opt_out_finished_during_send is False
