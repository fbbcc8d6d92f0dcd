"""A clinic's template overrides and branding: read what is in force, change it (audited)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from reminders.delivery.looks import Branding, Look, LookError, check_body, check_branding
from reminders.models import CLINIC_BRANDING, CLINIC_TEMPLATES, ClinicBranding, ClinicTemplate
from reminders.ops import audit

# Given the look a change would put in force, the problems that refuse it (the template lint).
Lint = Callable[[Look], list[str]]
BRANDING_FIELDS = ("display_name", "logo_url", "colour", "background", "footer")
T, B = CLINIC_TEMPLATES.c, CLINIC_BRANDING.c


def look_stamps(connection: Connection, clinic_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """Per clinic with overrides: the newest template row id and branding row id, in one query.

    Rows are only ever added, so a changed stamp means the clinic's look changed.
    """
    if not clinic_ids:
        return {}
    ids = sorted(set(clinic_ids))
    templates = sa.select(T.clinic_id, sa.func.max(T.id), sa.literal(0)).where(T.clinic_id.in_(ids))
    branding = sa.select(B.clinic_id, sa.literal(0), sa.func.max(B.id)).where(B.clinic_id.in_(ids))
    union = sa.union_all(templates.group_by(T.clinic_id), branding.group_by(B.clinic_id))
    stamps: dict[str, tuple[int, int]] = {}
    for clinic_id, template_id, branding_id in connection.execute(union):
        old = stamps.get(clinic_id, (0, 0))
        stamps[clinic_id] = (max(old[0], template_id or 0), max(old[1], branding_id or 0))
    return stamps


def current_look(connection: Connection, clinic_id: str) -> Look:
    """The overrides and branding in force for one clinic (the shipped look when none)."""
    rows = connection.execute(
        sa.select(T.name, T.version, T.body).where(T.clinic_id == clinic_id).order_by(T.version)
    ).all()
    newest = {name: (version, body) for name, version, body in rows}
    templates = {name: (v, body) for name, (v, body) in newest.items() if body is not None}
    latest = connection.execute(
        sa.select(CLINIC_BRANDING).where(B.clinic_id == clinic_id).order_by(B.version.desc())
    ).first()
    branding = Branding()
    if latest is not None:
        branding = Branding(**{k: getattr(latest, k) for k in BRANDING_FIELDS},
                            version=latest.version)  # fmt: skip
    return Look(clinic_id, templates, branding)


def history(session: Session, clinic_id: str, name: str | None = None) -> list[ClinicTemplate]:
    """Every version of a clinic's overrides (of one template when named), oldest first."""
    query = select(ClinicTemplate).where(ClinicTemplate.clinic_id == clinic_id)
    if name is not None:
        query = query.where(ClinicTemplate.name == name)
    return list(session.exec(query.order_by(col(ClinicTemplate.name), col(ClinicTemplate.version))))


def set_template(
    session: Session, clinic_id: str, name: str, body: str | None, actor: str, lint: Lint
) -> int:
    """Put a new version of `name` in force (None: back to shipped) if the lint passes.

    Raises LookError naming every problem, and then writes nothing. Returns the new version.
    """
    if body is not None:
        check_body(name, body)
    look = current_look(session.connection(), clinic_id)
    before = look.templates.get(name)
    if body is None and before is None:
        raise LookError(f"template {name!r}: clinic {clinic_id!r} already uses the shipped one")
    if before is not None and body == before[1]:
        raise LookError(f"template {name!r}: version {before[0]} already has this text")
    templates = {k: v for k, v in look.templates.items() if k != name}
    version = next_version(session, clinic_id, name)
    if body is not None:
        templates[name] = (version, body)
    problems = lint(replace(look, templates=templates))
    if problems:
        raise LookError(f"template {name!r} refused: " + "; ".join(problems))
    session.add(ClinicTemplate(clinic_id=clinic_id, name=name, version=version, body=body,
                               created_by=actor[:128]))  # fmt: skip
    audit.record(
        session, actor, "template.set" if body is not None else "template.reset",
        clinic_id=clinic_id, target=f"template:{clinic_id}/{name}"[:200],
        before={"version": before[0] if before else "shipped"},
        after={"version": version if body is not None else "shipped"},
    )  # fmt: skip
    return version


def next_version(session: Session, clinic_id: str, name: str) -> int:
    """One more than the newest version of this clinic's template (1 for the first)."""
    newest = session.connection().scalar(
        sa.select(sa.func.max(T.version)).where(T.clinic_id == clinic_id, T.name == name)
    )
    return int(newest or 0) + 1


def set_branding(
    session: Session, clinic_id: str, values: Mapping[str, Any], actor: str, lint: Lint
) -> Branding:
    """Change some branding values (None: unchanged, "": back to the shipped look), audited."""
    changes = check_branding(values)
    look = current_look(session.connection(), clinic_id)
    old = look.branding
    before = {k: getattr(old, k) for k in BRANDING_FIELDS}
    after = {**before, **changes}
    if after == before:
        raise LookError("branding: nothing to change")
    new = Branding(**after, version=old.version + 1)
    problems = lint(replace(look, branding=new))
    if problems:
        raise LookError("branding refused: " + "; ".join(problems))
    session.add(ClinicBranding(clinic_id=clinic_id, version=new.version, created_by=actor[:128],
                               **after))  # fmt: skip
    changed_before, changed_after = audit.changed_only(before, after)
    audit.record(
        session, actor, "branding.set", clinic_id=clinic_id, target=f"branding:{clinic_id}",
        before={**changed_before, "version": old.version},
        after={**changed_after, "version": new.version},
    )  # fmt: skip
    return new
