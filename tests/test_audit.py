"""Clinic changes are audited with who, what before and after, and never a secret's value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from reminders.db import session_scope
from reminders.intake.clinics import create_clinic, rotate_secret, update_clinic
from reminders.models import AuditEntry, Clinic
from reminders.ops.audit import CHANGED, SET, UNSET, masked

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def entries(engine: Engine) -> list[AuditEntry]:
    with session_scope(engine) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)).all())  # type: ignore[arg-type]


def test_masking_hides_secret_values_but_shows_whether_they_changed() -> None:
    before = {"webhook_secret": "whsec_old", "twilio_auth_token": "", "name": "Glow"}
    after = {"webhook_secret": "whsec_new", "twilio_auth_token": "tok", "name": "Glow"}
    assert masked(before, after) == {"webhook_secret": CHANGED, "twilio_auth_token": UNSET,
                                     "name": "Glow"}  # fmt: skip
    assert masked(after, before) == {"webhook_secret": CHANGED, "twilio_auth_token": CHANGED,
                                     "name": "Glow"}  # fmt: skip
    assert masked({"webhook_secret": "x"}) == {"webhook_secret": SET}


def test_creating_a_clinic_is_audited_without_its_secret(engine: Engine) -> None:
    with session_scope(engine) as session:
        _clinic, secret = create_clinic(session, "glow", "Glow", "cli:ana", window="09:00-19:00")
    [entry] = entries(engine)
    assert (entry.actor, entry.action, entry.clinic_id) == ("cli:ana", "clinic create", "glow")
    assert entry.after is not None and entry.after["window_start"] == "09:00:00"
    assert entry.after["webhook_secret"] == SET
    assert secret not in repr(entry.model_dump())


def test_changing_settings_records_only_the_changed_fields(engine: Engine) -> None:
    with session_scope(engine) as session:
        clinic, _ = create_clinic(session, "glow", "Glow")
    with session_scope(engine) as session:
        clinic = session.get(Clinic, "glow")
        assert clinic is not None
        update_clinic(session, clinic, {"name": "Glow Skin", "locale": "en"}, "cli:ben")
    entry = entries(engine)[-1]
    assert (entry.actor, entry.action, entry.target) == ("cli:ben", "clinic update", "clinic:glow")
    assert (entry.before, entry.after) == ({"name": "Glow"}, {"name": "Glow Skin"})


def test_an_update_that_changes_nothing_writes_no_entry(engine: Engine) -> None:
    with session_scope(engine) as session:
        clinic, _ = create_clinic(session, "glow", "Glow")
        update_clinic(session, clinic, {"name": "Glow"}, "cli:ben")
    assert [e.action for e in entries(engine)] == ["clinic create"]


def test_rotating_a_secret_is_audited_as_changed_never_shown(engine: Engine) -> None:
    with session_scope(engine) as session:
        clinic, old = create_clinic(session, "glow", "Glow")
        new = rotate_secret(session, clinic, NOW, timedelta(hours=2), actor="cli:ana")
    entry = entries(engine)[-1]
    assert entry.action == "secret rotate" and entry.actor == "cli:ana"
    assert entry.after == {"webhook_secret": CHANGED}
    assert "14:00" in entry.detail
    assert old not in repr(entry.model_dump()) and new not in repr(entry.model_dump())
