"""PURE: the outbox state machine: statuses, legal moves, and what a send outcome leads to."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

PENDING, CLAIMED, SENDING, SENT, DELIVERED = "pending", "claimed", "sending", "sent", "delivered"
CANCELLED, SKIPPED, FAILED, DEAD, UNKNOWN = "cancelled", "skipped", "failed", "dead", "unknown"

STATUSES = (PENDING, CLAIMED, SENDING, SENT, DELIVERED, CANCELLED, SKIPPED, FAILED, DEAD, UNKNOWN)
# Rows a re-plan may rewrite: nothing has been handed to a provider yet.
REPLANNABLE = (PENDING, CANCELLED, SKIPPED)
# Rows that will not move again without an operator.
FINAL = (DELIVERED, CANCELLED, SKIPPED, FAILED, DEAD)

TRANSIENT, PERMANENT, AMBIGUOUS = "transient", "permanent", "ambiguous"


@dataclass(frozen=True)
class Outcome:
    """Where a row goes after a failed send attempt."""

    status: str
    next_attempt_at: datetime | None
    reason: str


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> timedelta:
    """Capped exponential backoff with full jitter, never shorter than a tenth of the base."""
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=max(base / 10, rng.uniform(0, ceiling)))


def after_failure(
    kind: str,
    attempts: int,
    max_attempts: int,
    now: datetime,
    base: float,
    cap: float,
    rng: random.Random,
) -> Outcome:
    """Decide the next status for an error of the given kind after `attempts` tries."""
    if kind == PERMANENT:
        return Outcome(FAILED, None, "the provider refused the message permanently")
    if kind == AMBIGUOUS:
        return Outcome(UNKNOWN, None, "the provider may have it; reconcile before any resend")
    if attempts >= max_attempts:
        return Outcome(DEAD, None, f"gave up after {attempts} attempts")
    return Outcome(PENDING, now + backoff(attempts, base, cap, rng), "transient error, will retry")
