"""Reading the audit trail: newest first, filtered by clinic, actor and action, always bounded.

The dashboard passes the operator's clinics (staff see only their clinic's entries, never the
platform-wide ones such as admin accounts); the CLI, run by a trusted shell user, passes None.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from reminders.models import AuditEntry
from reminders.ops.scope import ClinicIds, within

MAX_ENTRIES = 1000


@dataclass(frozen=True)
class AuditFilter:
    """What to show; empty strings mean "any". `actor` and `action` match exactly."""

    clinic: str = ""
    actor: str = ""
    action: str = ""
    limit: int = 50


def find_entries(
    session: Session, wanted: AuditFilter, clinic_ids: ClinicIds = None
) -> list[AuditEntry]:
    """Entries matching the filter within those clinics, newest first, at most wanted.limit."""
    stmt = select(AuditEntry).where(within(col(AuditEntry.clinic_id), clinic_ids))
    if wanted.clinic:
        stmt = stmt.where(col(AuditEntry.clinic_id) == wanted.clinic)
    if wanted.actor:
        stmt = stmt.where(col(AuditEntry.actor) == wanted.actor)
    if wanted.action:
        stmt = stmt.where(col(AuditEntry.action) == wanted.action)
    limit = min(max(1, wanted.limit), MAX_ENTRIES)
    stmt = stmt.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)
    return list(session.exec(stmt).all())


def action_names(session: Session, clinic_ids: ClinicIds = None) -> list[str]:
    """The actions recorded so far (for the filter menu), within those clinics."""
    stmt = (
        select(AuditEntry.action)
        .where(within(col(AuditEntry.clinic_id), clinic_ids))
        .distinct()
        .order_by(col(AuditEntry.action))
    )
    return list(session.exec(stmt).all())


def shown_values(values: dict[str, object] | None) -> str:
    """An entry's before/after as one short line (secrets are already masked when stored)."""
    if not values:
        return ""
    return ", ".join(f"{key}={value}" for key, value in values.items())
