"""Retry or cancel every message a filter matches, one audited action per row, or a dry run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.db import session_scope
from reminders.ops import actions
from reminders.ops.listing import M, MessageFilter, _conditions, _joined
from reminders.ops.scope import ClinicIds, within

# A bulk action never runs away: more than this many rows is done in several runs.
MAX_ROWS = 1000
BULK_ACTIONS = (actions.RETRY, actions.CANCEL, actions.RESOLVE)


@dataclass
class BulkResult:
    """What a bulk action did (or, in a dry run, would do) to each matched row."""

    matched: list[int] = field(default_factory=list)
    done: list[actions.ActionResult] = field(default_factory=list)

    @property
    def refused(self) -> list[actions.ActionResult]:
        """The rows the action was refused for (a status it cannot leave, a change meanwhile)."""
        return [r for r in self.done if not r.ok]


def matching_ids(
    session: Session, wanted: MessageFilter, clinic_ids: ClinicIds = None, limit: int = MAX_ROWS
) -> list[int]:
    """Ids of the rows the filter matches within those clinics, oldest due first."""
    where = and_(within(M.clinic_id, clinic_ids), *_conditions(wanted))
    stmt = _joined(select(M.id)).where(where).order_by(M.due_at, M.id).limit(limit)
    return [int(i) for i in session.execute(stmt).scalars()]


def run_bulk(
    engine: Engine,
    action: str,
    wanted: MessageFilter,
    actor: str,
    clock: Callable[[], datetime],
    clinic_ids: ClinicIds = None,
    dry_run: bool = False,
) -> BulkResult:
    """Apply `action` to each matched row in its own transaction (audited by ops.actions)."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"action: {action!r}; choose one of {', '.join(BULK_ACTIONS)}")
    with Session(engine) as session:
        result = BulkResult(matching_ids(session, wanted, clinic_ids))
    if dry_run:
        return result
    for message_id in result.matched:
        with session_scope(engine) as session:
            result.done.append(one(session, action, message_id, actor, clock(), clinic_ids))
    return result


def one(
    session: Session,
    action: str,
    message_id: int,
    actor: str,
    now: datetime,
    clinic_ids: ClinicIds,
) -> actions.ActionResult:
    """One action on one row (a bulk retry never resends an `unknown` row)."""
    if action == actions.RETRY:
        return actions.retry(session, message_id, actor, now, clinic_ids=clinic_ids)
    if action == actions.CANCEL:
        return actions.cancel(session, message_id, actor, now, clinic_ids)
    return actions.resolve(session, message_id, actor, now, clinic_ids)
