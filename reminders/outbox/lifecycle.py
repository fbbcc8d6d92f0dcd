"""PURE: the outbox state machine: statuses, the one table of legal moves, send outcomes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    """Where an outbox row stands; stored as these strings (a CHECK constraint keeps them)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEAD = "dead"
    UNKNOWN = "unknown"


# Short names, so callers read `lc.PENDING`; they are the enum's members.
PENDING, CLAIMED, SENDING = Status.PENDING, Status.CLAIMED, Status.SENDING
SENT, DELIVERED, CANCELLED = Status.SENT, Status.DELIVERED, Status.CANCELLED
SKIPPED, FAILED, DEAD, UNKNOWN = Status.SKIPPED, Status.FAILED, Status.DEAD, Status.UNKNOWN
STATUSES: tuple[Status, ...] = tuple(Status)


class Move(StrEnum):
    """A named change of status; MOVES says from where each may be taken and to what."""

    CLAIM = "claim"  # the dispatcher takes a due row
    RELEASE = "release"  # the broker refused the task: the claim is given back
    EXPIRE = "expire"  # the lease sweep: a claim nobody started
    START = "start"  # a worker starts the send: one attempt
    EXHAUST = "exhaust"  # a claim whose row has used all its attempts is not started
    SEND = "send"  # the provider took it
    DEFER = "defer"  # not sent now (window, caps, rate limit, transient error): later
    FAIL = "fail"  # the provider refused it for good
    DIE = "die"  # a transient error on the last attempt
    LOSE = "lose"  # the provider may have it (ambiguous answer, or the sender stopped mid-send)
    SKIP = "skip"  # the last look found it expired or without consent
    DROP = "drop"  # the last look found its treatment cancelled
    FOUND = "found"  # reconciliation: the provider has it
    NOT_FOUND = "not_found"  # reconciliation: the provider never got it
    REPORT_SENT = "report_sent"  # the provider's status callbacks, only ever forwards
    REPORT_DELIVERED = "report_delivered"
    REPORT_FAILED = "report_failed"
    REPLAN = "replan"  # a re-plan rewrites a row nothing was handed to a provider for
    REPLAN_SKIP = "replan_skip"
    REPLAN_CANCEL = "replan_cancel"
    SKIP_MISSED = "skip_missed"  # an opt-in: a revived row whose time passed meanwhile
    WITHHOLD = "withhold"  # consent withdrawn (STOP, unsubscribe): stops without a re-plan
    RETRY = "retry"  # an operator queues a row that will not move again on its own
    RESEND = "resend"  # an operator resends an unknown row, knowing it may duplicate
    CANCEL = "cancel"  # an operator cancels a row nobody is sending right now


@dataclass(frozen=True)
class Transition:
    """The statuses a move may start from, and where it leads."""

    sources: tuple[Status, ...]
    target: Status


# Rows a re-plan may rewrite: nothing has been handed to a provider yet.
REPLANNABLE = (PENDING, CANCELLED, SKIPPED)
# Operators retry only rows that will not move again on their own; `unknown` ones may already
# be with the provider, so only the explicitly chosen resend requeues them. They cancel only
# rows nobody is sending: `sending` is mid-call and `sent` has gone; cancelling `unknown`
# stops any later resend, and a `failed` or `dead` row leaves the problems list.
MOVES: dict[Move, Transition] = {
    Move.CLAIM: Transition((PENDING,), CLAIMED),
    Move.RELEASE: Transition((CLAIMED,), PENDING),
    Move.EXPIRE: Transition((CLAIMED,), PENDING),
    Move.START: Transition((CLAIMED,), SENDING),
    Move.EXHAUST: Transition((CLAIMED,), DEAD),
    Move.SEND: Transition((SENDING,), SENT),
    Move.DEFER: Transition((SENDING,), PENDING),
    Move.FAIL: Transition((SENDING,), FAILED),
    Move.DIE: Transition((SENDING,), DEAD),
    Move.LOSE: Transition((SENDING,), UNKNOWN),
    Move.SKIP: Transition((SENDING,), SKIPPED),
    Move.DROP: Transition((SENDING,), CANCELLED),
    Move.FOUND: Transition((UNKNOWN,), SENT),
    Move.NOT_FOUND: Transition((UNKNOWN,), PENDING),
    Move.REPORT_SENT: Transition((CLAIMED, SENDING, UNKNOWN), SENT),
    Move.REPORT_DELIVERED: Transition((CLAIMED, SENDING, UNKNOWN, SENT), DELIVERED),
    Move.REPORT_FAILED: Transition((CLAIMED, SENDING, UNKNOWN, SENT), FAILED),
    Move.REPLAN: Transition(REPLANNABLE, PENDING),
    Move.REPLAN_SKIP: Transition(REPLANNABLE, SKIPPED),
    Move.REPLAN_CANCEL: Transition((PENDING,), CANCELLED),
    Move.SKIP_MISSED: Transition((PENDING,), SKIPPED),
    Move.WITHHOLD: Transition((PENDING,), SKIPPED),
    Move.RETRY: Transition((FAILED, DEAD), PENDING),
    Move.RESEND: Transition((FAILED, DEAD, UNKNOWN), PENDING),
    Move.CANCEL: Transition((PENDING, CLAIMED, UNKNOWN, FAILED, DEAD), CANCELLED),
}
# How a send attempt that ended in a status is recorded: each of these starts from `sending`.
OUTCOMES: dict[Status, Move] = {
    MOVES[move].target: move
    for move in (Move.SEND, Move.DEFER, Move.FAIL, Move.DIE, Move.LOSE, Move.SKIP, Move.DROP)
}
# Problem rows an operator may acknowledge; the status stays, so this is no move.
RESOLVABLE = (FAILED, DEAD, UNKNOWN)


def sources(move: Move) -> tuple[Status, ...]:
    """The statuses a row must be in for `move` to apply (the compare-and-set's WHERE)."""
    return MOVES[move].sources


def target(move: Move) -> Status:
    """The status `move` leads to."""
    return MOVES[move].target


def allowed(status: str, move: Move) -> bool:
    """Whether a row in `status` may take `move`."""
    return status in MOVES[move].sources


def outcome_move(status: str) -> Move:
    """The move that records a send attempt ending in `status`; ValueError if none does."""
    try:
        return OUTCOMES[Status(status)]
    except (KeyError, ValueError):
        raise ValueError(f"a send attempt cannot end in {status!r}") from None


def replan_move(status: str) -> Move:
    """The move that makes a re-planned row `status`; ValueError if a re-plan cannot."""
    for move in (Move.REPLAN, Move.REPLAN_SKIP, Move.REPLAN_CANCEL):
        if MOVES[move].target == status:
            return move
    raise ValueError(f"a re-plan cannot make a row {status!r}")


def may_start(attempts: int, max_attempts: int) -> bool:
    """The ceiling on attempts, whatever path returned the row to pending."""
    return attempts < max_attempts


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
    if not may_start(attempts, max_attempts):
        return Outcome(DEAD, None, f"gave up after {attempts} attempts")
    return Outcome(PENDING, now + backoff(attempts, base, cap, rng), "transient error, will retry")
