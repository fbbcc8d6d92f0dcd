"""PURE: the row changes that make a treatment's outbox rows equal a fresh plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reminders.models import Message
from reminders.outbox import lifecycle as lc
from reminders.planning.planner import PlannedMessage

# Statuses of an SMS that has reached, or may still reach, the patient's phone.
LIVE = (lc.PENDING, lc.CLAIMED, lc.SENDING, lc.SENT, lc.DELIVERED, lc.UNKNOWN)
DEFAULT_CANCEL_REASON = "no longer part of the plan"
CLINIC_CHANGE_REASON = "no longer in the clinic's plan"
# Reasons a re-plan cancels with; only rows cancelled for these may come back to life.
REVIVABLE = frozenset(
    {
        DEFAULT_CANCEL_REASON,
        CLINIC_CHANGE_REASON,
        "treatment cancelled",
        "next session booked or no sessions remain",
        "no next session booked",
        "not the last session of the course",
    }
)


@dataclass(frozen=True)
class RowChange:
    """One step of a re-plan: insert a planned message, update or cancel an existing row."""

    action: str
    planned: PlannedMessage | None = None
    message_id: int | None = None
    values: tuple[tuple[str, Any], ...] = ()


def diff_plan(
    existing: Sequence[Message],
    fresh: Sequence[PlannedMessage],
    cancel_reason: str,
    reasons: Mapping[str, str] | None = None,
) -> list[RowChange]:
    """The changes that make the rows equal a fresh plan, never touching sent or in-flight rows.

    `reasons`: per step key, why a pending row that is no longer planned is cancelled.
    """
    by_slot = {(row.step_key, row.channel): row for row in existing}
    changes: list[RowChange] = []
    for item in fresh:
        row = by_slot.pop((item.key, item.channel), None)
        if row is None:
            changes.append(RowChange("insert", planned=item))
        elif replannable(row):
            values = changed_values(row, item)
            if values:
                changes.append(RowChange("update", message_id=row.id, values=tuple(values.items())))
    for row in by_slot.values():
        if lc.allowed(row.status, lc.Move.REPLAN_CANCEL) and replannable(row):
            reason = (reasons or {}).get(row.step_key, cancel_reason)
            cancelled = lc.target(lc.Move.REPLAN_CANCEL)
            cancel = (("status", cancelled), ("reason", reason), ("next_attempt_at", None))
            changes.append(RowChange("update", message_id=row.id, values=cancel))
    return changes


def replannable(row: Message) -> bool:
    """A row a re-plan may rewrite: not in flight and never handed to a provider."""
    return row.status in lc.REPLANNABLE and row.sent_at is None and row.provider_id is None


def changed_values(row: Message, item: PlannedMessage) -> dict[str, Any]:
    """The fields of `row` that differ from the fresh plan (empty: leave the row alone)."""
    if row.status == lc.CANCELLED and (item.status == "skipped" or row.reason not in REVIVABLE):
        return {}  # cancelled by someone else (operator, opt-out): a re-plan never revives it
    wanted = planned_values(item)
    if row.status == lc.PENDING and wanted["status"] == lc.PENDING and row.due_at == item.due_at:
        del wanted["next_attempt_at"]  # same time: keep a retry's backoff as it is
    return {name: value for name, value in wanted.items() if getattr(row, name) != value}


def planned_values(item: PlannedMessage) -> dict[str, Any]:
    """The row fields a planned message sets."""
    pending = item.status == "planned"
    return {
        "status": lc.PENDING if pending else lc.SKIPPED,
        "due_at": item.due_at,
        "valid_until": item.valid_until,
        "next_attempt_at": item.due_at if pending else None,
        "reason": item.reason,
        "protocol_version": item.protocol_version,
    }


def live_sms_time(row: Message) -> datetime | None:
    """When an SMS row reaches (or reached) the phone, if it counts against the caps."""
    if row.channel != "sms" or row.status not in LIVE:
        return None
    return row.sent_at or row.next_attempt_at or row.due_at
