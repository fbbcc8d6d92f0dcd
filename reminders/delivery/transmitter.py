"""Send chunks of cleared rows: behind the consent gate, on a thread pool, through the providers."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime, timedelta

from jinja2 import TemplateError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.base import Channel, Outgoing, SendError
from reminders.consent.gate import ConsentGate
from reminders.delivery.composition import compose
from reminders.delivery.look_cache import LookCache
from reminders.delivery.outcomes import RowOutcome
from reminders.delivery.policy import DeliveryPolicy
from reminders.delivery.rendering import Renderer
from reminders.delivery.triage import Attempt, Row, hand_back
from reminders.outbox import lifecycle as lc
from reminders.outbox.claim import (
    FreshContact,
    fresh_contacts,
    record_renders,
    text_digest,
)

log = logging.getLogger(__name__)
# A STOP being recorded takes a moment; the row is re-checked after it (and then skipped).
STOPPING = "a STOP for this number is being recorded; back in the queue"
STOPPING_RETRY = timedelta(seconds=2)
Clock = Callable[[], datetime]
Prepared = tuple[Attempt, Outgoing]


class Transmitter:
    """Renders and sends cleared rows concurrently; owns the send threads until close()."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        renderer: Renderer,
        policy: DeliveryPolicy,
        clock: Clock,
        gate: ConsentGate,
        rng: random.Random,
    ) -> None:
        self.engine, self.channels, self.renderer = engine, channels, renderer
        self.looks = LookCache(engine, renderer)
        self.policy, self.clock, self.gate, self.rng = policy, clock, gate, rng
        self.pool = ThreadPoolExecutor(max_workers=policy.concurrency, thread_name_prefix="send")

    def close(self) -> None:
        """Let running sends finish, drop those not started, and end the send threads."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def send_chunk(self, chunk: Sequence[Attempt], last_start: datetime) -> list[RowOutcome]:
        """Re-read consent, then send; an opt-out being recorded waits for these sends."""
        numbers = {a.patient.phone or "" for a in chunk if a.message.channel == "sms"}
        with self.gate.sending(sorted(numbers - {""})) as changing:
            # The gate is entered before consent is read: a STOP that commits later waits
            # until these sends are done, so no SMS is accepted after it is recorded.
            outcomes = {
                a.message.id: self.hand_back(a, STOPPING, STOPPING_RETRY)
                for a in chunk
                if a.message.channel == "sms" and a.patient.phone in changing
            }
            clear = [a for a in chunk if a.message.id not in outcomes]
            with Session(self.engine) as session:
                # FOR SHARE on PostgreSQL (SQLite drops it and relies on the gate).
                fresh = fresh_contacts(session, [a.patient.id for a in clear], lock=True)
                outcomes.update(self.send_clear(clear, fresh, last_start))
                session.commit()
        return [outcomes[a.message.id] for a in chunk]

    def send_clear(
        self, clear: Sequence[Attempt], fresh: Mapping[int, FreshContact], last_start: datetime
    ) -> dict[int | None, RowOutcome]:
        """Prepare each row, store the SMS digests, then send the rows that may go."""
        outcomes: dict[int | None, RowOutcome] = {}
        ready: list[Prepared] = []
        for attempt in clear:
            prepared = self.prepare(attempt, fresh)
            if isinstance(prepared, RowOutcome):
                outcomes[prepared.message_id] = prepared
            else:
                ready.append((attempt, prepared))
        # Committed before any request: after a crash mid-send, reconciliation looks for
        # exactly the text that went out, even if the template changes since; with the version
        # of the templates it came from (Message.template_version) and, for SMS, the sender key
        # (inbound routing finds which clinic last wrote to a number from a sender).
        record_renders(
            self.engine,
            {
                o.message_id: (
                    text_digest(o.text) if o.channel == "sms" else None,
                    self.stamp(a),
                    (o.sender.key if o.sender else "") if o.channel == "sms" else None,
                )
                for a, o in ready
            },
        )
        sent = self.send_all(ready, last_start)
        outcomes.update(zip((a.message.id for a, _o in ready), sent, strict=True))
        return outcomes

    def send_all(self, ready: Sequence[Prepared], last_start: datetime) -> list[RowOutcome]:
        """Send on the pool; return only when no send of these is running."""
        sends = [self.pool.submit(self.transmit, a, o, last_start) for a, o in ready]
        try:
            return [send.result() for send in sends]
        finally:
            # Never leave the gate or the lock while a send runs: after a time limit or a bug,
            # sends not started are dropped and the running ones finish first.
            for send in sends:
                send.cancel()
            wait(sends)

    def stamp(self, attempt: Attempt) -> str:
        """Which templates the row renders from (Message.template_version)."""
        message, patient = attempt.message, attempt.patient
        renderer = self.looks.renderer(message.clinic_id)
        return renderer.stamp(message.channel, message.step_key, patient.locale)

    def render(self, row: Row, first_sms: bool, delivered_at: datetime) -> Outgoing:
        """The row as its channel sends it at `delivered_at`; TemplateError for a broken one.

        The clinic's overrides are those of the last looks.refresh() (once per batch).
        """
        message, patient, clinic, treatment = row
        policy = self.policy
        outgoing = compose(
            message,
            patient,
            clinic,
            treatment,
            self.looks.renderer(clinic.id),
            policy.public_url,
            first_sms,
            policy.link_key,
            delivered_at,
        )
        return replace(outgoing, sender=policy.sender_of(message.channel, clinic))

    def hand_back(
        self, attempt: Attempt, reason: str, delay: timedelta = timedelta(0)
    ) -> RowOutcome:
        """Return an unsent row to pending, `delay` from now, without counting an attempt."""
        return hand_back(attempt, self.clock() + delay, reason)

    def prepare(self, item: Attempt, fresh: Mapping[int, FreshContact]) -> RowOutcome | Outgoing:
        """Re-check consent and address, then render; an outcome when the row must not go."""
        message, patient = item.message, item.patient
        assert message.id is not None and patient.id is not None
        base = RowOutcome(message.id, lc.SENT, message.attempts)
        contact = fresh.get(patient.id)
        if contact is not None and message.channel in contact.withdrawn:
            return replace(
                base,
                status=lc.SKIPPED,
                attempts=message.attempts - 1,
                reason="consent withdrawn just before sending",
                attempted=False,
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
        message = item.message
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
        retry = self.policy.retry
        outcome = lc.after_failure(
            error.kind,
            base.attempts,
            retry.max_attempts,
            self.clock(),
            retry.base_seconds,
            retry.cap_seconds,
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
