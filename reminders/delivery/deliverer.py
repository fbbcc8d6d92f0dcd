"""Deliver claimed rows: load them, triage, throttle, send in chunks, record in batches."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from jinja2 import TemplateError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.base import Channel
from reminders.consent.gate import ConsentGate, gate_for
from reminders.db import session_scope
from reminders.delivery.outcomes import RowOutcome, record_outcomes
from reminders.delivery.policy import DeliveryPolicy
from reminders.delivery.rendering import Renderer
from reminders.delivery.throttle import Grant, Limiter, LimiterUnavailableError, Unlimited
from reminders.delivery.transmitter import Transmitter
from reminders.delivery.triage import Attempt, hand_back, ration, triage
from reminders.ops.metrics import Recorder
from reminders.outbox.claim import load_rows, sms_history, start_sending

# With Redis down, throttled rows retry this soon: the outage is usually short.
LIMITER_DOWN_RETRY_SECONDS = 5.0
Clock = Callable[[], datetime]


@dataclass
class DeliveryReport:
    """What one deliver() call did, by final status."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcomes: Sequence[RowOutcome]) -> None:
        """Count outcomes by status."""
        for outcome in outcomes:
            self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1


class Deliverer:
    """Sends claimed rows through their channels and records each outcome; close() it once."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        renderer: Renderer,
        policy: DeliveryPolicy,
        clock: Clock,
        limiter: Limiter | None = None,
        gate: ConsentGate | None = None,
        recorder: Recorder | None = None,
        on_unsubscribed: Callable[[int], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine, self.channels, self.policy, self.clock = engine, channels, policy, clock
        self.limiter = limiter or Unlimited()
        self.recorder = recorder or Recorder()
        self.on_unsubscribed = on_unsubscribed
        gate = gate or gate_for(engine)
        rng = rng or random.Random()
        self.transmitter = Transmitter(engine, channels, renderer, policy, clock, gate, rng)

    def close(self) -> None:
        """End the send threads (the worker process is exiting)."""
        self.transmitter.close()

    def deliver(self, ids: Sequence[int], owner: str) -> DeliveryReport:
        """Deliver the given claimed rows; rows no longer claimed are left alone."""
        report = DeliveryReport()
        now, policy = self.clock(), self.policy
        with session_scope(self.engine) as session:
            owned = start_sending(session, ids, owner, now, policy.lease, policy.retry.max_attempts)
        if not owned:
            return report
        with Session(self.engine, expire_on_commit=False) as session:
            rows = load_rows(session, owned)
            history = sms_history(session, {row[0].patient_id for row in rows})
        self.transmitter.looks.refresh({row[0].clinic_id for row in rows})
        held, ready = triage(rows, history, now)
        throttled, ready = self.throttle(ready, now)
        self.record(report, held + throttled, now)
        deadline = now + policy.send_budget
        last_start = now + policy.lease - policy.send_ceiling
        for start in range(0, len(ready), policy.chunk):
            chunk = ready[start : start + policy.chunk]
            if self.clock() > deadline:
                self.record(report, [hand_back(a, self.clock()) for a in ready[start:]])
                break
            outcomes = self.transmitter.send_chunk(chunk, last_start)
            self.record(report, outcomes)
            self.unsubscribe(chunk, outcomes)
            self.recorder.record_sends((o.status, o.provider_code, o.provider_id) for o in outcomes)
        return report

    def record(
        self, report: DeliveryReport, outcomes: list[RowOutcome], now: datetime | None = None
    ) -> None:
        """Write outcomes in one transaction and count them."""
        record_outcomes(self.engine, outcomes, self.clock() if now is None else now)
        report.add(outcomes)

    def throttle(
        self, ready: list[Attempt], now: datetime
    ) -> tuple[list[RowOutcome], list[Attempt]]:
        """Take send slots per sender; what does not fit waits as pending, not as an attempt."""
        allowed: list[Attempt] = []
        waiting: list[RowOutcome] = []
        groups: dict[str, list[Attempt]] = {}
        for attempt in ready:
            key = self.policy.rate_key(attempt.message.channel, attempt.row[2])
            groups.setdefault(key, []).append(attempt)
        for key, group in sorted(groups.items()):
            reason = "rate limited; waiting for a send slot"
            try:
                grant = self.limiter.acquire(key, len(group))
            except LimiterUnavailableError:
                # Without the shared limiter nothing is sent, but the rows go straight back to
                # pending rather than sit in `sending` until the sweeper calls them unknown.
                grant = Grant(0, LIMITER_DOWN_RETRY_SECONDS)
                reason = "rate limiter unavailable (Redis); waiting"
            later, now_allowed = ration(group, grant, now, reason)
            waiting.extend(later)
            allowed.extend(now_allowed)
        return waiting, allowed

    def possible_texts(self, message_id: int) -> frozenset[str]:
        """The texts this row renders to now, as a first SMS or not; empty if it cannot render."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = load_rows(session, [message_id])
        if not rows or rows[0][0].channel != "sms":
            return frozenset()  # email providers cannot be listed; only SMS is matched
        message = rows[0][0]
        self.transmitter.looks.refresh([message.clinic_id])
        # The wording depends on the day it went; it went at one of these moments.
        went = (message.due_at, message.next_attempt_at, message.lease_expires_at)
        moments = {moment for moment in went if moment is not None}
        try:
            return frozenset(
                self.transmitter.render(rows[0], first_sms, moment).text
                for first_sms in (True, False)
                for moment in moments
            )
        except TemplateError:
            return frozenset()

    def unsubscribe(self, chunk: Sequence[Attempt], outcomes: Sequence[RowOutcome]) -> None:
        """Twilio 21610 (opt_out): the number unsubscribed at the carrier; stop all SMS to it."""
        for attempt, outcome in zip(chunk, outcomes, strict=True):
            if outcome.opt_out and self.on_unsubscribed:
                patient_id = attempt.patient.id
                assert patient_id is not None
                self.on_unsubscribed(patient_id)
