"""Recover lost work: expired leases go back to pending or to unknown; unknowns are reconciled."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from reminders.channels.base import SendError
from reminders.channels.senders import NO_PLATFORM, Sender, clinic_sender
from reminders.models import CLINICS, MESSAGES, PATIENTS, movable
from reminders.outbox import lifecycle as lc
from reminders.outbox.claim import text_digest

log = logging.getLogger(__name__)
M = MESSAGES.c
FOUND, NOT_FOUND, CANNOT_TELL = "found", "not_found", "cannot_tell"


@dataclass(frozen=True)
class SentQuery:
    """What we know of a send whose fate is unknown: to whom, which row, and when."""

    message_id: int
    channel: str
    to: str
    since: datetime
    until: datetime
    known_provider_ids: frozenset[str] = frozenset()
    # The texts this row could have gone out with; empty when they cannot be rendered again.
    texts: frozenset[str] = frozenset()
    # The digest of the text stored before the send; None for rows sent before it was kept.
    digest: str | None = None
    # The clinic's own provider account to ask, when its texts go out through one.
    account: Sender | None = None


@dataclass(frozen=True)
class Finding:
    """The provider's answer: it has the message (with its id), never got it, or cannot tell."""

    verdict: str
    provider_id: str | None = None


class Finder(Protocol):
    """A channel's way to ask its provider whether a message reached it."""

    def find(self, query: SentQuery) -> Finding:
        """Look the message up at the provider."""
        ...


def sweep_expired_leases(engine: Engine, now: datetime) -> tuple[int, int]:
    """Claims nobody started go back to pending; sends nobody finished become unknown."""
    with engine.begin() as connection:
        returned = connection.execute(
            update(MESSAGES)
            .where(movable(lc.Move.EXPIRE), M.lease_expires_at < now)
            .values(
                status=lc.target(lc.Move.EXPIRE),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        ).rowcount
        # The lease expiry stays on the row: it bounds when the lost send was attempted.
        lost = connection.execute(
            update(MESSAGES)
            .where(movable(lc.Move.LOSE), M.lease_expires_at < now)
            .values(
                status=lc.target(lc.Move.LOSE),
                updated_at=now,
                reason="the sender stopped mid-send; reconciling with the provider",
            )
        ).rowcount
    if returned or lost:
        log.warning("leases expired: %d back to pending, %d to unknown", returned, lost)
    return int(returned or 0), int(lost or 0)


def reconcile_unknown(
    engine: Engine,
    finders: Mapping[str, Finder],
    now: datetime,
    grace: timedelta,
    lease: timedelta,
    limit: int = 200,
    texts: Callable[[int], frozenset[str]] = lambda _message_id: frozenset(),
    platform: Sender = NO_PLATFORM,
) -> dict[str, int]:
    """Ask each provider about unknown rows older than `grace` (callbacks get the first say).

    `texts` renders a row's possible texts again, so a provider's message is credited only to
    the row that sent it. `platform` is the platform's SMS sender, as the deliverer's.
    """
    counts = {FOUND: 0, NOT_FOUND: 0, CANNOT_TELL: 0}
    for row in unknown_rows(engine, list(finders), now - grace, limit):
        if sender_changed(row, platform):
            # The account it went through may not be the one we would ask: "not found" there
            # would mean a resend. An operator decides.
            log.warning("message %s: its clinic changed sender since; not looked up", row.id)
            finding = Finding(CANNOT_TELL)
        else:
            finding = finders[row.channel].find(sent_query(engine, row, now, lease, texts))
        counts[finding.verdict] += 1
        settle(engine, row.id, finding, now)
    return counts


def unknown_rows(engine: Engine, channels: list[str], before: datetime, limit: int) -> list[Any]:
    """Unknown rows untouched since `before`, oldest first, with their patient's addresses."""
    stmt = (
        select(
            M.id,
            M.channel,
            M.patient_id,
            M.lease_expires_at,
            M.updated_at,
            M.sent_digest,
            PATIENTS.c.phone,
            PATIENTS.c.email,
            M.sender,
            CLINICS.c.sms_from,
            CLINICS.c.sms_messaging_service_sid,
            CLINICS.c.twilio_account_sid,
            CLINICS.c.twilio_auth_token,
        )
        .join(PATIENTS, PATIENTS.c.id == M.patient_id)
        .join(CLINICS, CLINICS.c.id == M.clinic_id)
        # Only channels whose provider can be asked: rows of the others wait for an operator
        # and must not fill every batch, keeping askable rows from ever being looked at.
        .where(M.status == lc.UNKNOWN, M.updated_at <= before, M.channel.in_(channels))
        .order_by(M.updated_at)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(stmt).all())


def sent_query(
    engine: Engine,
    row: Any,  # one of unknown_rows()
    now: datetime,
    lease: timedelta,
    texts: Callable[[int], frozenset[str]],
) -> SentQuery:
    """What to ask the provider about one unknown row: to whom, when, which texts."""
    started = (row.lease_expires_at or row.updated_at) - lease
    to = (row.phone if row.channel == "sms" else row.email) or ""
    return SentQuery(
        row.id,
        row.channel,
        to,
        since=started - timedelta(minutes=5),
        until=now,
        known_provider_ids=known_provider_ids(engine, row.channel, to),
        # Rendering again is only the fallback, for rows whose digest was never stored.
        texts=frozenset() if row.sent_digest else texts(row.id),
        digest=row.sent_digest,
        account=account_of(row),
    )


def sender_changed(row: Any, platform: Sender) -> bool:
    """Whether an unknown SMS row went out as another sender than its clinic's now."""
    return bool(row.channel == "sms" and row.sender) and (
        row.sender != clinic_sender(row, platform).key
    )


def account_of(row: Any) -> Sender | None:
    """The clinic's own Twilio account (a subaccount) from an unknown row, if it has one."""
    account = Sender(account_sid=row.twilio_account_sid, auth_token=row.twilio_auth_token)
    return account if row.channel == "sms" and account.own_account else None


def known_provider_ids(engine: Engine, channel: str, to: str) -> frozenset[str]:
    """Provider ids already recorded on any row to this address (patients may share one)."""
    address = PATIENTS.c.phone if channel == "sms" else PATIENTS.c.email
    stmt = (
        select(M.provider_id)
        .join(PATIENTS, PATIENTS.c.id == M.patient_id)
        .where(address == to, M.channel == channel, M.provider_id.is_not(None))
    )
    with engine.connect() as connection:
        return frozenset(connection.execute(stmt).scalars())


class LookupFinder:
    """Reconciles through a channel's `sent_to(to, since, until, exclude)` (Twilio's)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def find(self, query: SentQuery) -> Finding:
        """FOUND with the provider's id, NOT_FOUND, or CANNOT_TELL when it cannot be told."""
        # Only a clinic's own account is named: channels without accounts are asked as before.
        extra = {"account": query.account} if query.account is not None else {}
        try:
            found = self.channel.sent_to(
                query.to, query.since, query.until, exclude=query.known_provider_ids, **extra
            )
        except SendError as error:
            log.warning("reconcile of message %s postponed: %s", query.message_id, error)
            return Finding(CANNOT_TELL)
        if not found:
            return Finding(NOT_FOUND)
        if query.digest is not None:
            # Exact: the text that went out is known, whatever was edited since.
            matching = [m for m in found if text_digest(m.body) == query.digest]
        else:
            matching = [m for m in found if m.body in query.texts]
        if matching:
            return Finding(FOUND, matching[0].sid)
        # Twilio has a message to this number with another text: another row's, a HELP answer,
        # this row's as Twilio re-encoded it (smart encoding swaps some characters), or, for a
        # row without a digest, this row's before an edit. Resending could duplicate it, so
        # wait: once its own row claims it, this row is NOT_FOUND; if not, an operator decides.
        log.warning(
            "message %s: a provider message in its window has another text", query.message_id
        )
        return Finding(CANNOT_TELL)


def settle(engine: Engine, message_id: int, finding: Finding, now: datetime) -> None:
    """Apply a provider's answer to an unknown row; never a blind resend."""
    if finding.verdict == FOUND:
        move = lc.Move.FOUND
        values: dict[str, object] = dict(
            provider_id=finding.provider_id,
            sent_at=now,
            updated_at=now,
            reason="reconciled: the provider has it",
        )
    elif finding.verdict == NOT_FOUND:
        # Back to pending even after its last attempt: start_sending keeps the ceiling.
        move = lc.Move.NOT_FOUND
        values = dict(
            next_attempt_at=now,
            updated_at=now,
            reason="reconciled: the provider never received it",
        )
    else:
        return
    with engine.begin() as connection:
        connection.execute(
            update(MESSAGES)
            .where(M.id == message_id, movable(move))
            .values(status=lc.target(move), lease_owner=None, lease_expires_at=None, **values)
        )
