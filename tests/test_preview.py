"""`reminders preview`: the timeline as a table or JSON, with no database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from reminders.cli.root import app

RUNNER = CliRunner(env={"COLUMNS": "200"})


def preview(*args: str) -> list[dict[str, str | None]]:
    result = RUNNER.invoke(app, ["preview", *args, "--json"])
    assert result.exit_code == 0, result.output
    records: list[dict[str, str | None]] = json.loads(result.stdout)
    return records


def test_json_lists_each_step_and_channel_with_utc_and_local_times() -> None:
    records = preview("--treated-at", "2026-03-07T18:00:00-05:00", "--tz", "America/New_York")
    day_1 = next(r for r in records if r["key"] == "day_1" and r["channel"] == "sms")
    # 24 h after 18:00 EST is 19:00 EDT (daylight saving began that night), not 10:00.
    assert day_1["due_at"] == "2026-03-08T23:00:00Z"
    assert day_1["local_due_at"] == "2026-03-08T19:00:00-04:00"
    assert day_1["status"] == "planned" and day_1["reason"] is None
    assert {"key", "channel", "due_at", "local_due_at", "status", "reason"} <= set(day_1)


def test_a_time_without_offset_is_read_in_the_patients_zone() -> None:
    records = preview("--treated-at", "2026-06-01T19:50", "--tz", "Asia/Kolkata")
    assert records[0]["local_due_at"] == "2026-06-01T19:50:00+05:30"


def test_course_options_add_session_reminders_and_consent_skips_channels() -> None:
    records = preview(
        "--treated-at",
        "2026-06-01T12:00Z",
        "--tz",
        "UTC",
        "--session",
        "1",
        "--sessions",
        "3",
        "--next-session",
        "2026-07-06T09:30Z",
        "--channels",
        "email",
    )
    keys = {r["key"] for r in records}
    assert "session_day_before" in keys and "book_next_session" not in keys
    assert {r["status"] for r in records if r["channel"] == "sms"} == {"skipped"}


def test_table_shows_local_time_utc_step_and_status() -> None:
    result = RUNNER.invoke(
        app,
        ["preview", "--treated-at", "2026-04-03T16:00", "--tz", "Australia/Sydney"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "Fri 2026-04-03 16:00 AEDT" in result.stdout
    # Day 3 waits until 72 h have passed: 16:00 AEDT + 72 h is 15:00 AEST.
    assert "Mon 2026-04-06 15:00 AEST" in result.stdout and "day_3" in result.stdout


def test_bad_input_is_refused_naming_the_option() -> None:
    result = RUNNER.invoke(app, ["preview", "--treated-at", "soon", "--tz", "UTC"])
    assert result.exit_code == 2 and "--treated-at" in result.output
    result = RUNNER.invoke(app, ["preview", "--treated-at", "2026-06-01T12:00", "--tz", "Nowhere"])
    assert result.exit_code == 2 and "timezone" in result.output
    result = RUNNER.invoke(
        app,
        ["preview", "--treated-at", "2026-06-01T12:00", "--tz", "UTC", "--window", "22:00-06:00"],
    )
    assert result.exit_code == 2 and "wraps past midnight" in result.output


def test_a_clinic_can_preview_its_overrides() -> None:
    overrides = '{"steps": {"day_3": {"at": "09:00"}, "day_7": {"enabled": false}}}'
    records = preview("--treated-at", "2026-06-01T08:00", "--tz", "UTC", "--overrides", overrides)
    day_3 = next(r for r in records if r["key"] == "day_3")
    assert day_3["local_due_at"] == "2026-06-04T09:00:00+00:00"
    assert next(r for r in records if r["key"] == "day_7")["status"] == "skipped"
    bad = RUNNER.invoke(
        app,
        [
            "preview",
            "--treated-at",
            "2026-06-01T12:00",
            "--tz",
            "UTC",
            "--overrides",
            '{"steps": {"day_9": {}}}',
        ],
    )
    assert bad.exit_code == 2 and "day_9" in bad.output


def test_an_evening_treatment_shows_day_one_a_day_later_and_the_first_night_wording() -> None:
    evening = preview("--treated-at", "2026-03-07T18:00", "--tz", "America/New_York")
    late = preview("--treated-at", "2026-03-07T21:30", "--tz", "America/New_York")
    first = {r["channel"]: r for r in evening if r["key"] == "first_night"}
    assert first["email"]["wording"] == "tonight" and first["sms"]["wording"] == ""
    moved = next(r for r in late if r["key"] == "first_night" and r["channel"] == "email")
    assert moved["local_due_at"] == "2026-03-08T08:00:00-04:00"
    assert moved["wording"] == "first 24 h, not 'tonight'"
    day_1 = next(r for r in late if r["key"] == "day_1" and r["channel"] == "sms")
    assert day_1["local_due_at"] == "2026-03-09T08:00:00-04:00" and day_1["status"] == "planned"
