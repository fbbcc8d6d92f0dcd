"""Deliver claimed rows: re-check, throttle, render, send concurrently, record in batches."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from jinja2 import TemplateError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.base import Channel, Outgoing, SendError
from reminders.consent.gate import ConsentGate, gate_for
from reminders.db import session_scope
from reminders.delivery.composition import compose
from reminders.delivery.outcomes import RowOutcome, record_outcomes
from reminders.delivery.rendering import Renderer
from reminders.delivery.sendcheck import Skip, recheck
from reminders.delivery.throttle import Grant, Limiter, LimiterUnavailableError, Unlimited
from reminders.models import Clinic, Message, Patient, Treatment
from reminders.ops.metrics import Recorder
from reminders.outbox import lifecycle as lc
from reminders.outbox.claim import (
    FreshContact,
    fresh_contacts,
    load_rows,
    record_digests,
    sms_history,
    start_sending,
    text_digest,
)
from reminders.planning.caps import SmsLedger

log = logging.getLogger(__name__)
# With Redis down, throttled rows retry this soon: the outage is usually short.
LIMITER_DOWN_RETRY_SECONDS = 5.0
# A STOP being recorded takes a moment; the row is re-checked after it (and then skipped).
STOPPING = "a STOP for this number is being recorded; back in the queue"
STOPPING_RETRY = timedelta(seconds=2)
Clock = Callable[[], datetime]
Row = tuple[Message, Patient, Clinic, Treatment]


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried."""

    max_attempts: int = 6
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0


@dataclass
class DeliveryReport:
    """What one deliver() call did, by final status."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcomes: Sequence[RowOutcome]) -> None:
        """Count outcomes by status."""
        for outcome in outcomes:
            self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1


@dataclass(frozen=True)
class Attempt:
    """A row cleared to send now, with whether it is the patient's first SMS."""

    row: Row
    first_sms: bool


class Deliverer:
    """Sends claimed rows through their channels and records each outcome."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        renderer: Renderer,
        public_url: str,
        clock: Clock,
        retry: RetryPolicy = RetryPolicy(),
        lease: timedelta = timedelta(seconds=120),
        limiter: Limiter | None = None,
        senders: Mapping[str, str] | None = None,
        concurrency: int = 8,
        chunk_size: int | None = None,
        budget: timedelta = timedelta(seconds=60),
        on_unsubscribed: Callable[[int], None] | None = None,
        rng: random.Random | None = None,
        recorder: Recorder | None = None,
        link_key: bytes = b"",
        gate: ConsentGate | None = None,
        longest_send: timedelta = timedelta(seconds=20),
    ) -> None:
        if not link_key:
            raise ValueError("link_key is required: it signs the unsubscribe links in emails")
        self.link_key = link_key
        self.engine, self.channels, self.renderer = engine, channels, renderer
        self.public_url, self.clock, self.retry, self.lease = public_url, clock, retry, lease
        self.limiter = limiter or Unlimited()
        self.gate = gate or gate_for(engine)
        self.senders = senders or {}
        self.on_unsubscribed = on_unsubscribed
        self.recorder = recorder or Recorder()
        self.rng = rng or random.Random()
        self.concurrency = concurrency
        # Sends between two database round trips: a few per thread keeps the round trips few
        # and the batch that a crash could leave `unknown` small.
        self.chunk_size = chunk_size or concurrency * 4
        # Stop starting sends well before the lease or the task time limit runs out.
        self.budget = min(budget, lease / 2)
        # No send may start unless it ends (connect plus read timeout) before the lease does:
        # past it the sweeper may hand the row to reconciliation, and then to another worker.
        self.longest_send = min(longest_send, lease / 2)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send")

    def deliver(self, ids: Sequence[int], owner: str) -> DeliveryReport:
        """Deliver the given claimed rows; rows no longer claimed are left alone."""
        report = DeliveryReport()
        now = self.clock()
        with session_scope(self.engine) as session:
            owned = start_sending(session, ids, owner, now, self.lease, self.retry.max_attempts)
        if not owned:
            return report
        with Session(self.engine, expire_on_commit=False) as session:
            rows = load_rows(session, owned)
            history = sms_history(session, {row[0].patient_id for row in rows})
        held, ready = self.triage(rows, history, now)
        throttled, ready = self.throttle(ready, now)
        record_outcomes(self.engine, held + throttled, now)
        report.add(held + throttled)
        deadline = now + self.budget
        last_start = now + self.lease - self.longest_send
        for start in range(0, len(ready), self.chunk_size):
            chunk = ready[start : start + self.chunk_size]
            if self.clock() > deadline:
                outcomes = [self.hand_back(attempt) for attempt in ready[start:]]
                record_outcomes(self.engine, outcomes, self.clock())
                report.add(outcomes)
                break
            outcomes = self.send_chunk(chunk, last_start)
            record_outcomes(self.engine, outcomes, self.clock())
            report.add(outcomes)
            self.unsubscribe(chunk, outcomes)
            self.recorder.record_sends((o.status, o.provider_code) for o in outcomes)
        return report

    def send_chunk(self, chunk: Sequence[Attempt], last_start: datetime) -> list[RowOutcome]:
        """Re-read consent, then send; an opt-out being recorded waits for these sends."""
        numbers = {a.row[1].phone or "" for a in chunk if a.row[0].channel == "sms"}
        with self.gate.sending(sorted(numbers - {""})) as changing:
            # The gate is entered before consent is read: a STOP that commits later waits
            # until these sends are done, so no SMS is accepted after it is recorded.
            outcomes = {
                a.row[0].id: self.hand_back(a, STOPPING, STOPPING_RETRY)
                for a in chunk
                if a.row[0].channel == "sms" and a.row[1].phone in changing
            }
            clear = [a for a in chunk if a.row[0].id not in outcomes]
            with Session(self.engine) as session:
                # FOR SHARE on PostgreSQL (SQLite drops it and relies on the gate).
                fresh = fresh_contacts(session, [a.row[1].id for a in clear], lock=True)
                ready: list[tuple[Attempt, Outgoing]] = []
                for attempt in clear:
                    prepared = self.prepare(attempt, fresh)
                    if isinstance(prepared, RowOutcome):
                        outcomes[prepared.message_id] = prepared
                    else:
                        ready.append((attempt, prepared))
                # Committed before any request: after a crash mid-send, reconciliation looks
                # for exactly the text that went out, even if the template changes since.
                record_digests(
                    self.engine,
                    {o.message_id: text_digest(o.text) for _a, o in ready if o.channel == "sms"},
                )
                sends = [self.pool.submit(self.transmit, a, o, last_start) for a, o in ready]
                try:
                    sent = [send.result() for send in sends]
                finally:
                    # Never leave the gate or the lock while a send runs: after a time limit or
                    # a bug, sends not started are dropped and the running ones finish first.
                    for send in sends:
                        send.cancel()
                    wait(sends)
                outcomes.update(zip((a.row[0].id for a, _o in ready), sent, strict=True))
                session.commit()
        return [outcomes[a.row[0].id] for a in chunk]

    def possible_texts(self, message_id: int) -> frozenset[str]:
        """The texts this row renders to now, as a first SMS or not; empty if it cannot render."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = load_rows(session, [message_id])
        if not rows or rows[0][0].channel != "sms":
            return frozenset()  # email providers cannot be listed; only SMS is matched
        message = rows[0][0]
        # The wording depends on the day it went; it went at one of these moments.
        went = (message.due_at, message.next_attempt_at, message.lease_expires_at)
        moments = {moment for moment in went if moment is not None}
        try:
            return frozenset(
                self.render(rows[0], first_sms, moment).text
                for first_sms in (True, False)
                for moment in moments
            )
        except TemplateError:
            return frozenset()

    def render(self, row: Row, first_sms: bool, delivered_at: datetime) -> Outgoing:
        """The row as its channel sends it at `delivered_at`; TemplateError for a broken one."""
        message, patient, clinic, treatment = row
        return compose(
            message,
            patient,
            clinic,
            treatment,
            self.renderer,
            self.public_url,
            first_sms,
            self.link_key,
            delivered_at,
        )

    def hand_back(
        self,
        attempt: Attempt,
        reason: str = "the batch ran out of time; back in the queue",
        delay: timedelta = timedelta(0),
    ) -> RowOutcome:
        """Return an unsent row to pending without counting an attempt."""
        message = attempt.row[0]
        assert message.id is not None
        return RowOutcome(
            message.id,
            lc.PENDING,
            message.attempts - 1,
            reason=reason,
            next_attempt_at=self.clock() + delay,
        )

    def triage(
        self, rows: Sequence[Row], history: Mapping[int, list[datetime]], now: datetime
    ) -> tuple[list[RowOutcome], list[Attempt]]:
        """Split rows into those that must not go now (with their outcome) and those that may."""
        held: list[RowOutcome] = []
        ready: list[Attempt] = []
        ledgers: dict[int, SmsLedger] = {}
        told_stop: set[int] = set()
        # Newest step first: when a cap allows one SMS of several overdue ones (late
        # enrollment, an outage), the patient gets the current instruction, not a stale one.
        for message, patient, clinic, treatment in sorted(
            rows, key=lambda r: r[0].due_at, reverse=True
        ):
            assert message.id is not None and patient.id is not None
            skip = recheck(message, patient, clinic, treatment, now)
            if skip is None and message.channel == "sms":
                ledger = ledgers.setdefault(
                    patient.id,
                    SmsLedger(
                        clinic.sms_per_day,
                        clinic.sms_per_week,
                        ZoneInfo(patient.timezone),
                        history.get(patient.id, []),
                    ),
                )
                skip = cap_check(ledger, message, clinic, now)
            if skip is not None:
                held.append(
                    RowOutcome(
                        message.id,
                        skip.status,
                        message.attempts - 1,
                        reason=skip.reason,
                        next_attempt_at=skip.next_attempt_at,
                    )
                )
                continue
            first_sms = message.channel == "sms" and not history.get(patient.id)
            first_sms = first_sms and patient.id not in told_stop
            if first_sms:
                told_stop.add(patient.id)
            ready.append(Attempt((message, patient, clinic, treatment), first_sms))
        return held, ready

    def throttle(
        self, ready: list[Attempt], now: datetime
    ) -> tuple[list[RowOutcome], list[Attempt]]:
        """Take send slots per sender; what does not fit waits as pending, not as an attempt."""
        allowed: list[Attempt] = []
        waiting: list[RowOutcome] = []
        for channel in sorted({a.row[0].channel for a in ready}):
            group = [a for a in ready if a.row[0].channel == channel]
            reason = "rate limited; waiting for a send slot"
            try:
                grant = self.limiter.acquire(self.senders.get(channel, channel), len(group))
            except LimiterUnavailableError:
                # Without the shared limiter nothing is sent, but the rows go straight back to
                # pending rather than sit in `sending` until the sweeper calls them unknown.
                grant = Grant(0, LIMITER_DOWN_RETRY_SECONDS)
                reason = "rate limiter unavailable (Redis); waiting"
            allowed.extend(group[: grant.granted])
            later = now + timedelta(seconds=max(grant.retry_after, 0.05))
            for attempt in group[grant.granted :]:
                message = attempt.row[0]
                assert message.id is not None
                waiting.append(
                    RowOutcome(
                        message.id,
                        lc.PENDING,
                        message.attempts - 1,
                        reason=reason,
                        next_attempt_at=later,
                    )
                )
        return waiting, allowed

    def prepare(self, item: Attempt, fresh: Mapping[int, FreshContact]) -> RowOutcome | Outgoing:
        """Re-check consent and address, then render; an outcome when the row must not go."""
        message, patient = item.row[0], item.row[1]
        assert message.id is not None and patient.id is not None
        base = RowOutcome(message.id, lc.SENT, message.attempts)
        contact = fresh.get(patient.id)
        if contact is not None and message.channel in contact.withdrawn:
            return replace(
                base,
                status=lc.SKIPPED,
                attempts=message.attempts - 1,
                reason="consent withdrawn just before sending",
            )
        loaded = patient.phone if message.channel == "sms" else patient.email
        if contact is not None and contact.address(message.channel) != loaded:
            # Changed since this batch was loaded: send to the new address on the next pass.
            return self.hand_back(item, "the patient's contact changed just before sending")
        try:
            outgoing = self.render(item.row, item.first_sms, self.clock())
        except TemplateError as error:
            log.error("message %s: template problem: %s", message.id, error)
            return replace(
                base,
                status=lc.FAILED,
                reason="could not render its template",
                last_error=str(error),
            )
        return outgoing

    def transmit(self, item: Attempt, outgoing: Outgoing, last_start: datetime) -> RowOutcome:
        """Send one rendered row; never raises for a provider problem."""
        message = item.row[0]
        assert message.id is not None
        base = RowOutcome(message.id, lc.SENT, message.attempts)
        if self.clock() > last_start:
            return self.hand_back(item, "the lease would end mid-send; back in the queue")
        if message.channel == "sms" and self.gate.stopping(outgoing.to):
            # A STOP began waiting after this chunk read consent: do not start a new send.
            return self.hand_back(item, STOPPING, STOPPING_RETRY)
        try:
            provider_id = self.channels[message.channel].send(outgoing)
        except SendError as error:
            return self.failed(base, error)
        return replace(base, provider_id=provider_id, sent_at=self.clock(), reason=None)

    def failed(self, base: RowOutcome, error: SendError) -> RowOutcome:
        """The outcome of a provider error: retry later, fail, or go to unknown."""
        outcome = lc.after_failure(
            error.kind,
            base.attempts,
            self.retry.max_attempts,
            self.clock(),
            self.retry.base_seconds,
            self.retry.cap_seconds,
            self.rng,
        )
        log.warning("message %s: %s error %s: %s", base.message_id, error.kind, error.code, error)
        reason = str(error) if error.kind == lc.PERMANENT else outcome.reason
        return replace(
            base,
            status=outcome.status,
            reason=reason,
            next_attempt_at=outcome.next_attempt_at,
            provider_code=error.code,
            last_error=str(error),
            opt_out=error.opt_out,
        )

    def unsubscribe(self, chunk: Sequence[Attempt], outcomes: Sequence[RowOutcome]) -> None:
        """Twilio 21610 (opt_out): the number unsubscribed at the carrier; stop all SMS to it."""
        for attempt, outcome in zip(chunk, outcomes, strict=True):
            if outcome.opt_out and self.on_unsubscribed:
                patient_id = attempt.row[1].id
                assert patient_id is not None
                self.on_unsubscribed(patient_id)


def cap_check(ledger: SmsLedger, message: Message, clinic: Clinic, now: datetime) -> Skip | None:
    """Keep the SMS caps at send time: take a slot, or wait for the next day, or skip."""
    if ledger.fits(now):
        ledger.take(now)
        return None
    local = now.astimezone(ledger.zone)
    opens = datetime.combine(
        local.date() + timedelta(days=1), clinic.window_start, tzinfo=ledger.zone
    ).astimezone(UTC)
    caps = f"{clinic.sms_per_day} per day, {clinic.sms_per_week} per week"
    if message.valid_until is not None and opens > message.valid_until:
        return Skip(lc.SKIPPED, f"SMS cap reached ({caps}); skipped rather than sent late")
    return Skip(
        lc.PENDING, f"SMS cap reached ({caps}); waiting for the next day", next_attempt_at=opens
    )
