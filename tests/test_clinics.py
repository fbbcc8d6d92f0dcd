"""Clinic settings are validated, secrets rotate with a grace period, overrides change the plan."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy.engine import Engine

from reminders.db import session_scope
from reminders.intake.clinics import (
    ClinicError,
    accepted_secrets,
    apply_settings,
    create_clinic,
    protocol_for,
    rotate_secret,
)
from reminders.models import Clinic


def clinic(**fields: object) -> Clinic:
    return Clinic(id="c", name="C", **fields)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("phone", "12"),
        ("email", "nobody@"),
        ("default_region", "XX"),
        ("window", "8-20h"),
        ("locale", "fr"),
        ("booking_url", "glow.example/book"),
        ("protocol_overrides", "{not json"),
        ("protocol_overrides", '{"steps": {"day_99": {"at": "09:00"}}}'),
        ("protocol_overrides", '{"steps": {"day_1": {"at": "9 o\'clock"}}}'),
        ("protocol_overrides", '{"steps": {"day_1": {"channels": ["fax"]}}}'),
        ("colour", "blue"),
    ],
)
def test_each_bad_setting_is_refused_naming_it(setting: str, value: str) -> None:
    with pytest.raises(ClinicError) as caught:
        apply_settings(clinic(), {setting: value})
    assert str(caught.value).split(":")[0] in (setting, "protocol_overrides", "colour")


def test_a_window_wrapping_past_midnight_is_refused_naming_the_setting_and_the_rule() -> None:
    target = clinic(window_start=time(9), window_end=time(19))
    with pytest.raises(ClinicError) as caught:
        apply_settings(target, {"window": "22:00-06:00"})
    assert str(caught.value).startswith(
        "window: the sending window 22:00-06:00 wraps past midnight"
    )


def test_any_setting_change_names_a_stored_window_that_cannot_work() -> None:
    with pytest.raises(ClinicError, match="^window: "):
        apply_settings(clinic(window_start=time(22), window_end=time(6)), {"name": "Glow"})


def test_settings_are_normalized() -> None:
    target = clinic(default_region="ES")
    apply_settings(
        target, {"phone": "911 234 567", "window": "09:00-19:30", "email": "A@GLOW.example"}
    )
    assert target.phone == "+34911234567"
    assert (target.window_start, target.window_end) == (time(9), time(19, 30))
    assert target.email == "A@glow.example"


def test_protocol_overrides_move_a_step() -> None:
    target = clinic()
    apply_settings(target, {"protocol_overrides": '{"steps": {"day_1": {"at": "09:15"}}}'})
    assert protocol_for(target).step("day_1").at == time(9, 15)


def test_rotation_keeps_the_old_secret_only_for_the_grace_period(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        created, old = create_clinic(session, "glow", "Glow")
        new = rotate_secret(session, created, now, grace=timedelta(hours=2))
        assert accepted_secrets(created, now) == [new, old]
        assert accepted_secrets(created, now + timedelta(hours=3)) == [new]


def test_clinic_ids_are_url_safe_and_unique(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_clinic(session, "glow", "Glow")
        with pytest.raises(ClinicError):
            create_clinic(session, "glow", "Glow again")
        with pytest.raises(ClinicError):
            create_clinic(session, "Glow Clinic!", "Glow")
