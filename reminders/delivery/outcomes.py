"""Record how send attempts ended: one executemany per outcome move, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection, Engine

from reminders.events.emission import emit_message_event
from reminders.events.payloads import MESSAGE_FAILED
from reminders.models import ATTEMPTS, MESSAGES, movable
from reminders.outbox import lifecycle as lc

M = MESSAGES.c
# Outcomes the clinic's system hears about (message.failed): rare, so recorded row by row.
FAILING = (lc.Move.FAIL, lc.Move.DIE)


@dataclass(frozen=True)
class RowOutcome:
    """The result of one send attempt, as the row should record it."""

    message_id: int
    status: str
    attempts: int
    reason: str | None = None
    next_attempt_at: datetime | None = None
    provider_id: str | None = None
    provider_code: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    opt_out: bool = False
    # False when the row was held back before any try (caps, consent, a lease running out).
    attempted: bool = True


def record_outcomes(engine: Engine, outcomes: Sequence[RowOutcome], now: datetime) -> int:
    """Write many outcomes in one transaction, each only while its row is still `sending`."""
    if not outcomes:
        return 0
    groups: dict[lc.Move, list[dict[str, object]]] = {}
    for o in outcomes:
        groups.setdefault(lc.outcome_move(o.status), []).append(outcome_params(o))
    changed = 0
    with engine.begin() as connection:
        for move, params in groups.items():
            if move in FAILING:
                changed += record_failures(connection, move, params, now)
                continue
            result = connection.execute(outcome_statement(move, now), params)
            changed += int(result.rowcount or 0)
        tries = [attempt_row(o, now) for o in outcomes if o.attempted]
        if tries:  # the operator's history of the row's tries, in the same transaction
            connection.execute(insert(ATTEMPTS), tries)
    return changed


def attempt_row(o: RowOutcome, now: datetime) -> dict[str, object]:
    """One try as the attempt log keeps it."""
    return {
        "message_id": o.message_id,
        "number": o.attempts,
        "at": now,
        "status": o.status,
        "provider_id": o.provider_id,
        "provider_code": o.provider_code,
        "error": (o.last_error or None) and o.last_error[:300],
    }


def record_failures(
    connection: Connection, move: lc.Move, params: list[dict[str, object]], now: datetime
) -> int:
    """Record failed or dead rows one by one, queueing message.failed for each one that moved."""
    changed = 0
    for row in params:
        if connection.execute(outcome_statement(move, now), row).rowcount:
            changed += 1
            emit_message_event(connection, cast(int, row["b_id"]), MESSAGE_FAILED, now)
    return changed


def outcome_statement(move: lc.Move, now: datetime) -> Any:
    """The UPDATE that records one kind of outcome, run once per row (executemany)."""
    return (
        update(MESSAGES)
        .where(M.id == bindparam("b_id"), movable(move))
        .values(
            status=lc.target(move),
            attempts=bindparam("b_attempts"),
            reason=bindparam("b_reason"),
            next_attempt_at=bindparam("b_next"),
            provider_id=bindparam("b_provider_id"),
            provider_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            sent_at=bindparam("b_sent_at"),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )


def outcome_params(o: RowOutcome) -> dict[str, object]:
    """One row's values for outcome_statement."""
    return {
        "b_id": o.message_id,
        "b_attempts": o.attempts,
        "b_reason": o.reason,
        "b_next": o.next_attempt_at,
        "b_provider_id": o.provider_id,
        "b_code": o.provider_code,
        "b_error": (o.last_error or None) and o.last_error[:1000],
        "b_sent_at": o.sent_at,
    }
