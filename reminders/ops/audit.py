"""The audit trail: one way to record a change, with secrets masked before they are stored."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from reminders.models import AuditEntry, utcnow

# Fields whose values never reach the audit trail; a change shows as "(changed)".
SECRET_FIELDS = frozenset(
    {
        "webhook_secret",
        "previous_webhook_secret",
        "twilio_auth_token",
        "events_secret",
        "password",
        "password_hash",
    }
)
SET, UNSET, CHANGED = "(set)", "(unset)", "(changed)"


def cli_actor() -> str:
    """The actor of a change made from the shell: the OS account that ran the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return f"cli:{user}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def masked(
    values: Mapping[str, Any] | None, other: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """JSON-safe values with every secret replaced by a marker; `other` shows if it changed."""
    if values is None:
        return None
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if key in SECRET_FIELDS:
            if not value:
                shown[key] = UNSET
            elif other is not None and key in other and other[key] != value:
                shown[key] = CHANGED
            else:
                shown[key] = SET
        else:
            shown[key] = _plain(value)
    return shown


def changed_only(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys whose value differs, before and after (so an entry shows only the change)."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    clinic_id: str | None = None,
    message_id: int | None = None,
    target: str = "",
    detail: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Add one audit entry to the session (the caller commits it with the change itself)."""
    entry = AuditEntry(
        actor=actor[:128],
        action=action[:32],
        clinic_id=clinic_id,
        message_id=message_id,
        target=target[:200],
        detail=detail[:1000],
        before=masked(before, after),
        after=masked(after, before),
        at=now or utcnow(),
    )
    session.add(entry)
    return entry
