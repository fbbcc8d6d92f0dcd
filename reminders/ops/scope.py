"""The clinic restriction every operator query carries: None means every clinic."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, true
from sqlalchemy.sql.elements import ColumnElement

ClinicIds = frozenset[str] | None


def within(column: Any, clinic_ids: ClinicIds) -> ColumnElement[bool]:
    """A condition keeping rows of those clinics only (every row when clinic_ids is None)."""
    if clinic_ids is None:
        return true()
    if not clinic_ids:
        return false()
    return column.in_(sorted(clinic_ids))
