"""The default protocol and its validation: clear errors naming file, step and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reminders.planning.overrides import apply_overrides, merged_overrides, validate_overrides
from reminders.planning.protocol import ProtocolError, load_protocol, parse_protocol

STEP_KEYS = [
    "first_night",
    "day_1",
    "day_3",
    "day_7",
    "day_14",
    "book_next_session",
    "book_next_session_again",
    "session_week_before",
    "session_day_before",
    "results_check_in",
]


def doc(**step: Any) -> dict[str, Any]:
    return {"name": "t", "version": "1", "steps": [{"key": "s", "channels": ["sms"], **step}]}


def test_default_protocol_has_exactly_the_shared_step_keys() -> None:
    protocol = load_protocol()
    assert [step.key for step in protocol.steps] == STEP_KEYS
    assert protocol.label.startswith("microneedling@")


def test_session_reminders_are_anchored_on_the_next_session_and_count_backwards() -> None:
    protocol = load_protocol()
    assert protocol.step("session_week_before").anchor == "next_session"
    assert protocol.step("session_week_before").days == -7
    assert protocol.step("session_day_before").days == -1
    assert protocol.step("session_day_before").when == "next_session_booked"


def test_first_night_is_valid_into_the_next_morning_but_not_the_day_after() -> None:
    assert 14 <= load_protocol().step("first_night").valid_hours <= 24


def test_each_step_waits_until_its_advice_is_true_and_early_steps_text_first() -> None:
    protocol = load_protocol()
    hours = {step.key: step.not_before_hours for step in protocol.steps}
    assert hours["first_night"] == 0 and hours["day_1"] == 24 and hours["day_3"] == 72
    assert hours["day_14"] == 14 * 24 and hours["book_next_session"] >= 27 * 24
    first = [step.key for step in protocol.steps if step.priority == 1]
    assert first == ["first_night", "day_1", "day_3"]
    sessions = {step.key for step in protocol.steps if step.anchor == "next_session"}
    assert {protocol.step(key).priority for key in sessions} == {2}


@pytest.mark.parametrize("field", ["not_before_hours", "priority"])
def test_a_clinic_cannot_override_when_advice_is_true_or_its_priority(field: str) -> None:
    with pytest.raises(ProtocolError, match=f"field '{field}': cannot be overridden"):
        validate_overrides(load_protocol(), {"steps": {"day_1": {field: 1}}})


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        ({"phrases": ["Tonight"], "only_when": "on_treatment_day"}, "phrases"),
        ({"phrases": [], "not_before_hours": 24}, "phrases"),
        ({"phrases": ["tonight"], "only_when": "at_night"}, "only_when"),
        ({"phrases": ["tonight"]}, "not_before_hours"),
        (
            {"phrases": ["x"], "not_before_hours": 24, "only_when": "session_tomorrow"},
            "not_before_hours",
        ),
        ({"phrases": ["x"], "not_before_hours": -2}, "not_before_hours"),
        ({"phrases": ["x"], "not_before_hours": 2, "colour": "red"}, "colour"),
    ],
)
def test_each_invalid_claim_is_named(claim: dict[str, Any], field: str) -> None:
    data = {**doc(valid_hours=1), "claims": {"evening": claim}}
    with pytest.raises(ProtocolError) as error:
        parse_protocol(data, source="x.toml")
    assert (error.value.step, error.value.field) == ("claims.evening", field)


def test_missing_file_names_the_protocol() -> None:
    with pytest.raises(ProtocolError, match="no protocol file named 'nope'"):
        load_protocol("nope")


def test_error_names_file_step_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        'name = "bad"\nversion = "1"\n[[steps]]\nkey = "day_1"\nchannels = ["fax"]\n'
        "valid_hours = 1\n"
    )
    with pytest.raises(ProtocolError) as error:
        load_protocol("bad", directory=tmp_path)
    assert (error.value.source, error.value.step, error.value.field) == (
        "bad.toml",
        "day_1",
        "channels",
    )
    assert "bad.toml: step 'day_1', field 'channels'" in str(error.value)


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"valid_hours": 1, "colour": "red"}, "colour"),
        ({}, "valid_hours"),
        ({"valid_hours": 0}, "valid_hours"),
        ({"valid_hours": 1, "days": -1}, "days"),
        ({"valid_hours": 1, "days": 1.5}, "days"),
        ({"valid_hours": 1, "at": "25:00"}, "at"),
        ({"valid_hours": 1, "at": "10:00", "hours": 2}, "hours"),
        ({"valid_hours": 1, "when": "sometimes"}, "when"),
        ({"valid_hours": 1, "anchor": "moon"}, "anchor"),
        ({"valid_hours": 1, "anchor": "next_session", "when": "last_session"}, "when"),
        ({"valid_hours": 1, "not_before_hours": -1}, "not_before_hours"),
        ({"valid_hours": 1, "priority": 0}, "priority"),
        ({"valid_hours": 1, "priority": "high"}, "priority"),
    ],
)
def test_each_invalid_field_is_named(step: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_protocol(doc(**step), source="x.toml")
    assert (error.value.step, error.value.field) == ("s", field)


def test_duplicate_keys_are_rejected() -> None:
    data = doc(valid_hours=1)
    data["steps"].append(dict(data["steps"][0]))
    with pytest.raises(ProtocolError, match="more than one step"):
        parse_protocol(data)


def test_clinic_can_disable_retime_and_change_validity() -> None:
    base = load_protocol()
    changed = apply_overrides(
        base,
        {
            "steps": {
                "day_3": {"at": "09:30", "valid_hours": 12},
                "first_night": {"hours": 2},
                "day_7": {"enabled": False},
                "day_14": {"channels": ["email"]},
            }
        },
    )
    assert changed.step("day_3").at is not None and changed.step("day_3").at.hour == 9
    assert changed.step("day_3").valid_hours == 12
    assert changed.step("first_night").hours == 2
    assert changed.step("day_7").enabled is False
    assert changed.step("day_14").channels == ("email",)
    assert changed.label != base.label and changed.label.startswith(base.label + "+")
    assert apply_overrides(changed, {"steps": {"day_7": {"enabled": True}}}) is changed


@pytest.mark.parametrize(
    ("overrides", "step", "field"),
    [
        ({"steps": {"day_99": {"enabled": False}}}, "day_99", "key"),
        ({"steps": {"day_3": {"when": "always"}}}, "day_3", "when"),
        ({"steps": {"day_3": {"enabled": "no"}}}, "day_3", "enabled"),
        ({"steps": {"day_3": {"valid_hours": -4}}}, "day_3", "valid_hours"),
        ({"steps": {"day_3": {"at": "noon"}}}, "day_3", "at"),
        ({"steps": {"day_3": {"channels": []}}}, "day_3", "channels"),
        ({"stepz": {}}, "-", "-"),
    ],
)
def test_bad_overrides_name_the_clinic_step_and_field(
    overrides: dict[str, Any], step: str, field: str
) -> None:
    with pytest.raises(ProtocolError) as error:
        validate_overrides(load_protocol(), overrides, source="clinic 'a' protocol_overrides")
    assert (error.value.source, error.value.step, error.value.field) == (
        "clinic 'a' protocol_overrides",
        step,
        field,
    )


STORED = {"steps": {"day_1": {"at": "09:30", "days": 2}, "day_3": {"enabled": False}}}


@pytest.mark.parametrize(
    ("change", "merged"),
    [
        (
            {"steps": {"day_7": {"enabled": False}}},
            {"steps": {**STORED["steps"], "day_7": {"enabled": False}}},
        ),
        (
            {"steps": {"day_1": {"at": "11:00"}}},
            {"steps": {"day_1": {"at": "11:00", "days": 2}, "day_3": {"enabled": False}}},
        ),
        (
            {"steps": {"day_1": {"at": None}}},
            {"steps": {"day_1": {"days": 2}, "day_3": {"enabled": False}}},
        ),
        ({"steps": {"day_1": None}}, {"steps": {"day_3": {"enabled": False}}}),
        ({"steps": {"day_1": None, "day_3": None}}, {}),
        ({"steps": None}, {}),
    ],
)
def test_overrides_are_merged_step_by_step_and_field_by_field_and_null_removes(
    change: dict[str, Any], merged: dict[str, Any]
) -> None:
    assert merged_overrides(STORED, change) == merged


def test_an_empty_step_table_is_kept_for_validation_to_refuse() -> None:
    found = merged_overrides({}, {"steps": {"day_1": {}}})
    with pytest.raises(ProtocolError):
        validate_overrides(load_protocol("microneedling"), found)
