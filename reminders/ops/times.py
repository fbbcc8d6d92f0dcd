"""Times as operators read them: UTC, with the patient's local time beside it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import Session

from reminders.models import PATIENTS


def both(moment: datetime | None, zone: str) -> str:
    """'2026-12-07 09:00 UTC (10:00 Europe/Madrid)'; '-' when there is no time."""
    if moment is None:
        return "-"
    utc = f"{moment:%Y-%m-%d %H:%M} UTC"
    if zone in ("", "UTC"):
        return utc
    try:
        local = moment.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return utc
    day = "" if local.date() == moment.date() else f"{local:%a} "
    return f"{utc} ({day}{local:%H:%M} {zone})"


def zones_of(session: Session, patient_ids: Iterable[int]) -> dict[int, str]:
    """Each patient's IANA time zone."""
    wanted = sorted(set(patient_ids))
    if not wanted:
        return {}
    stmt = sa.select(PATIENTS.c.id, PATIENTS.c.timezone).where(PATIENTS.c.id.in_(wanted))
    return {int(i): str(tz) for i, tz in session.execute(stmt).all()}
