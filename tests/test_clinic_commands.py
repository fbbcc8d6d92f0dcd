"""Clinic administration and `reminders webhook send` / `reminders import`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from reminders.db import make_engine
from reminders.models import CLINICS, AuditEntry, Clinic, Patient, Treatment
from tests.harness import BIN, ServiceProcess, service_env
from tests.processes import free_port, wait_ready

# The commands run on the wall clock: sessions ended an hour ago (the future is refused).
ENDED = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
GOOD_ROW = f"p-1,Ana,612 345 678,ana@example.com,Europe/Madrid,es,yes,yes,t-1,{ENDED}"


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    env = service_env(f"sqlite:///{tmp_path / 'cli.db'}", redis_url, key_prefix, tmp_path)
    env["COLUMNS"] = "200"  # rich wraps tables to the terminal width
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    return env


def reminders(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "reminders"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_create_list_set_and_rotate_a_clinic_then_post_a_signed_event(
    env: dict[str, str], tmp_path: Path
) -> None:
    created = reminders(
        env, "clinics", "create", "glow", "--name", "Glow Clinic", "--region", "ES",
        "--phone", "911 234 567", "--email", "alerts@glow.example", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)
    assert first["id"] == "glow" and first["secret"].startswith("whsec_")

    bad = reminders(env, "clinics", "set", "glow", "--window", "8am to 8pm")
    assert bad.returncode == 1 and "window" in bad.stderr
    overrides = reminders(
        env,
        "clinics",
        "set",
        "glow",
        "--protocol-overrides",
        '{"steps": {"day_1": {"at": "09:30"}}}',
    )
    assert overrides.returncode == 0, overrides.stderr
    unknown_step = reminders(env, "clinics", "set", "glow", "--protocol-overrides", '{"x": {}}')
    assert unknown_step.returncode == 1 and "protocol_overrides" in unknown_step.stderr

    listed = reminders(env, "clinics", "list")
    assert "Glow Clinic" in listed.stdout and "+34911234567" in listed.stdout
    assert first["secret"] not in listed.stdout

    rotated = reminders(env, "clinics", "rotate-secret", "glow", "--json")
    second = json.loads(rotated.stdout)["secret"]
    assert second != first["secret"]

    port = free_port()
    api = ServiceProcess(
        [str(BIN / "reminders"), "api", "--port", str(port)], env, tmp_path / "api.log"
    )
    data = tmp_path / "event.json"
    data.write_text(json.dumps({
        "patient": {"external_id": "p-1", "first_name": "Ana", "timezone": "Europe/Madrid",
                    "phone": "612 345 678", "consent": {"sms": True}},
        "treatment": {"external_id": "t-1", "ended_at": ENDED},
    }))  # fmt: skip
    try:
        api.start()
        wait_ready(f"http://127.0.0.1:{port}/healthz", api.process)
        for secret in (first["secret"], second):
            sent = reminders(
                {**env, "REMINDERS_WEBHOOK_SECRET": secret}, "webhook", "send", "--clinic", "glow",
                "--type", "treatment.completed", "--data", str(data),
                "--url", f"http://127.0.0.1:{port}",
            )  # fmt: skip
            assert sent.returncode == 0, sent.stdout + sent.stderr
            assert "HTTP 202" in sent.stdout and "first_night" in sent.stdout
        forged_file = tmp_path / "forged-secret"
        forged_file.write_text("whsec_" + "A" * 44 + "\n")
        forged = reminders(
            env, "webhook", "send", "--clinic", "glow", "--secret-file", str(forged_file),
            "--type", "treatment.completed", "--data", str(data),
            "--url", f"http://127.0.0.1:{port}",
        )  # fmt: skip
        assert forged.returncode == 1 and "HTTP 401" in forged.stdout
        on_command_line = reminders(
            env, "webhook", "send", "--clinic", "glow", "--secret", first["secret"],
            "--type", "treatment.completed", "--data", str(data),
        )  # fmt: skip
        assert on_command_line.returncode == 2 and "--secret" in on_command_line.stderr
        without = reminders(
            env, "webhook", "send", "--clinic", "glow",
            "--type", "treatment.completed", "--data", str(data),
        )  # fmt: skip
        assert without.returncode == 1
        assert "REMINDERS_WEBHOOK_SECRET" in without.stdout + without.stderr
    finally:
        api.stop()


def test_import_enrolls_good_rows_reports_bad_ones_by_line_and_exits_non_zero(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(
        "external_id,first_name,phone,email,timezone,locale,consent_sms,consent_email,"
        "treatment_id,ended_at\n"
        f"{GOOD_ROW}\n"
        "p-2,Bea,12,bea@,Mars/Base,es,yes,maybe,t-2,2030-05-01T15:30:00\n"
        f"p-3,Carla,+34 622 000 111,,Europe/Madrid,es,yes,no,t-3,{ENDED}\n"
    )
    result = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "enrolled 2 rows, rejected 1 row" in result.stdout
    for column in ("phone", "email", "timezone", "consent_email", "ended_at"):
        assert column in result.stdout
    assert "│ 3 " in result.stdout  # the bad row's line number in the file
    # The progress bar (on stderr) counted every row, the rejected one too.
    assert "importing" in result.stderr and "3/3" in result.stderr

    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        patients = sorted(p.external_id for p in session.exec(select(Patient)))
    assert patients == ["p-1", "p-3"]  # the rejected row wrote nothing

    again = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert "enrolled 2 rows" in again.stdout  # re-importing is an upsert, not a duplicate
    with Session(engine) as session:
        assert len(session.exec(select(Patient)).all()) == 2
    engine.dispose()


def test_import_refuses_a_file_with_unknown_columns_before_writing(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow")
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text("external_id,first_name,shoe_size\np-1,Ana,38\n")
    result = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert result.returncode == 2
    assert "shoe_size" in result.stderr and "timezone" in result.stderr


def test_enroll_refuses_an_unknown_time_zone_in_one_line(env: dict[str, str]) -> None:
    result = reminders(env, "enroll", "--tz", "Mars/Olympus")
    assert result.returncode == 2
    assert "--tz: not an IANA time zone name" in result.stderr
    assert "Traceback" not in result.stderr


def stored_phones(env: dict[str, str]) -> list[str | None]:
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        phones = [patient.phone for patient in session.exec(select(Patient))]
    engine.dispose()
    return phones


def test_enroll_refuses_a_badly_formed_phone_and_writes_nothing(env: dict[str, str]) -> None:
    result = reminders(env, "enroll", "--phone", "12345")
    assert result.returncode == 2, result.stdout
    assert "--phone: not a valid phone number" in result.stderr
    assert stored_phones(env) == []


def test_enroll_stores_a_valid_phone_normalised_as_the_webhook_does(env: dict[str, str]) -> None:
    result = reminders(env, "enroll", "--phone", "(202) 555-0147")
    assert result.returncode == 0, result.stderr
    assert stored_phones(env) == ["+12025550147"]


@pytest.mark.parametrize("command", ["create", "set"])
def test_a_window_past_midnight_is_refused_naming_the_setting_and_writes_nothing(
    env: dict[str, str], command: str
) -> None:
    if command == "set":
        reminders(env, "clinics", "create", "glow", "--name", "Glow", "--window", "09:00-19:00")
    args = ["--name", "Glow"] if command == "create" else []
    result = reminders(env, "clinics", command, "glow", *args, "--window", "22:00-06:00")
    assert result.returncode == 1
    assert "window: the sending window 22:00-06:00 wraps past midnight" in result.stderr
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        windows = [(c.window_start, c.window_end) for c in session.exec(select(Clinic))]
    engine.dispose()
    assert windows == ([] if command == "create" else [(time(9), time(19))])


def test_import_warns_about_rows_it_enrolls_and_refuses_future_sessions(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(
        "external_id,first_name,phone,timezone,treatment_id,ended_at\n"
        f"p-1,Ana,612 345 678,Europe/Madrid,t-1,{ENDED}\n"
        f"p-2,Bea,622 000 111,Europe/Madrid,t-2,{soon}\n"
    )
    result = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "enrolled 1 row, rejected 1 row" in result.stdout
    assert "no SMS consent: nothing will be texted" in result.stdout
    assert "more than 15 minutes in the future" in result.stdout
    assert stored_phones(env) == ["+34612345678"]


def test_import_refuses_a_clinic_whose_stored_window_cannot_work(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow")
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with engine.begin() as connection:  # as an older version could have stored it
        connection.execute(sa.update(CLINICS).values(window_start=time(22), window_end=time(6)))
    engine.dispose()
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(
        f"external_id,first_name,timezone,treatment_id,ended_at\np-1,Ana,UTC,t-1,{ENDED}\n"
    )
    result = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert result.returncode == 2
    assert "window: the sending window 22:00-06:00 wraps past midnight" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_clinic_gets_its_own_sender_and_account_then_goes_back_to_the_platforms(
    env: dict[str, str], tmp_path: Path
) -> None:
    for clinic in ("glow", "bright"):
        made = reminders(env, "clinics", "create", clinic, "--name", clinic, "--region", "ES")
        assert made.returncode == 0, made.stderr
    token = "bright-subaccount-token"
    account = "AC" + "b" * 32
    given = subprocess.run(
        [str(BIN / "reminders"), "clinics", "set", "bright", "--sms-from", "911 000 200",
         "--twilio-account-sid", account],
        env={**env, "REMINDERS_CLINIC_TWILIO_AUTH_TOKEN": token},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert token not in given.stdout + given.stderr
    listed = reminders(env, "clinics", "list").stdout
    assert f"+34911000200, account {account}" in listed and "platform" in listed
    assert token not in listed

    prompted = subprocess.run(
        [str(BIN / "reminders"), "clinics", "set", "glow", "--messaging-service-sid",
         "MG" + "c" * 32, "--twilio-account-sid", "AC" + "c" * 32],
        env=env, input="glow-token-typed-in\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert prompted.returncode == 0, prompted.stderr
    assert "glow-token-typed-in" not in prompted.stdout + prompted.stderr

    bad = reminders(env, "clinics", "set", "glow", "--messaging-service-sid", "MG-nope")
    assert bad.returncode == 1 and "sms_messaging_service_sid" in bad.stderr
    platform = {**env, "REMINDERS_TWILIO_ACCOUNT_SID": "AC" + "f" * 32,
                "REMINDERS_TWILIO_AUTH_TOKEN": "platform-token",
                "REMINDERS_TWILIO_FROM": "+34911000100"}  # fmt: skip
    for option, value in (
        ("--sms-from", "+34911000100"),
        ("--twilio-account-sid", "AC" + "f" * 32),
    ):
        refused = subprocess.run(
            [str(BIN / "reminders"), "clinics", "set", "glow", "--sms-from", "+34911000300",
             option, value],
            env={**platform, "REMINDERS_CLINIC_TWILIO_AUTH_TOKEN": token},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 1 and "platform's" in refused.stderr

    back = reminders(env, "clinics", "set", "bright", "--default-sender")
    assert back.returncode == 0, back.stderr
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        bright, glow = session.get(Clinic, "bright"), session.get(Clinic, "glow")
        assert bright is not None and glow is not None
        assert (bright.sms_from, bright.twilio_account_sid, bright.twilio_auth_token) == (
            "",
            "",
            "",
        )
        assert glow.twilio_auth_token == "glow-token-typed-in"
        audit = session.exec(select(AuditEntry).where(AuditEntry.clinic_id == "bright")).all()
        assert audit and all(token not in repr(entry.model_dump()) for entry in audit)


CSV_HEADER = "external_id,first_name,phone,timezone,treatment_id,ended_at\n"


def test_import_reads_times_without_an_offset_in_the_patients_zone_only_when_asked(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    local = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(CSV_HEADER + f"p-1,Ana,612 345 678,Europe/Madrid,t-1,{local.isoformat()}\n")
    refused = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert refused.returncode == 1 and "needs a UTC offset" in refused.stdout
    read = reminders(env, "import", str(csv_file), "--clinic", "glow", "--local-times")
    assert read.returncode == 0, read.stdout + read.stderr
    assert "enrolled 1 row, rejected 0 rows" in read.stdout
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        ended = session.exec(select(Treatment)).one().ended_at
    engine.dispose()
    # Madrid is never at UTC+0: the time was read as Madrid's.
    assert ended.replace(tzinfo=None) != local


def test_import_dry_run_checks_every_row_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(
        CSV_HEADER + f"p-1,Ana,612 345 678,Europe/Madrid,t-1,{ENDED}\n"
        f"p-2,Bea,12,Europe/Madrid,t-2,{ENDED}\n"
    )
    result = reminders(env, "import", str(csv_file), "--clinic", "glow", "--dry-run")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dry run, nothing written: 1 row would be enrolled, 1 row rejected" in result.stdout
    assert "phone" in result.stdout
    assert stored_phones(env) == []


def test_import_names_extra_cells_by_line_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(
        CSV_HEADER + f"p-1,Ana,612 345 678,Europe/Madrid,t-1,{ENDED}\n"
        f"p-2,Bea,622 000 111,Europe/Madrid,t-2,{ENDED},surprise\n"
    )
    result = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert result.returncode == 2
    assert "line 3: 1 cell(s) more than the 6 columns" in result.stderr
    assert stored_phones(env) == []


@pytest.mark.parametrize("closed_later", [False, True])
def test_import_reports_a_broken_quote_at_the_line_where_it_starts(
    env: dict[str, str], tmp_path: Path, closed_later: bool
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    csv_file = tmp_path / "patients.csv"
    tail = f'p-4,"Dora",622 000 333,Europe/Madrid,t-4,{ENDED}\n' if closed_later else ""
    csv_file.write_text(
        CSV_HEADER + f"p-1,Ana,612 345 678,Europe/Madrid,t-1,{ENDED}\n"
        f'p-2,"Bea,622 000 111,Europe/Madrid,t-2,{ENDED}\n'
        f"p-3,Carla,622 000 222,Europe/Madrid,t-3,{ENDED}\n" + tail
    )
    result = reminders(env, "import", str(csv_file), "--clinic", "glow")
    assert result.returncode == 2, result.stdout
    assert "line 3: a quote opened on this line" in result.stderr
    assert stored_phones(env) == []


def clinic_json(env: dict[str, str], clinic_id: str) -> dict[str, object]:
    listed = reminders(env, "clinics", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (found,) = [c for c in json.loads(listed.stdout) if c["id"] == clinic_id]
    return found  # type: ignore[no-any-return]


def test_clinics_list_shows_every_setting_but_no_secret(env: dict[str, str]) -> None:
    created = reminders(
        env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES",
        "--booking-url", "https://glow.example/book", "--sms-per-week", "2", "--json",
    )  # fmt: skip
    secret = json.loads(created.stdout)["secret"]
    reminders(env, "clinics", "rotate-secret", "glow")
    shown = clinic_json(env, "glow")
    assert shown["booking_url"] == "https://glow.example/book" and shown["sms_per_week"] == 2
    assert shown["window"] == "08:00-20:00" and shown["protocol"] == "microneedling"
    assert shown["previous_secret_expires_at"]
    for name in ("webhook_secret", "previous_webhook_secret", "events_secret", "twilio_auth_token"):
        assert name not in shown
    table = reminders(env, "clinics", "list")
    assert "booking_url" in table.stdout and "glow.example/book" in table.stdout
    assert secret not in table.stdout + json.dumps(shown)


def test_clinics_set_reports_every_problem_at_once_and_writes_nothing(
    env: dict[str, str],
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow", "--region", "ES")
    result = reminders(
        env, "clinics", "set", "glow", "--phone", "12", "--email", "nope@",
        "--sms-per-day", "3", "--sms-per-week", "2", "--window", "22:00-06:00",
    )  # fmt: skip
    assert result.returncode == 1
    for setting in ("phone:", "email:", "window:"):
        assert setting in result.stderr, result.stderr
    assert clinic_json(env, "glow")["sms_per_day"] == 1


def test_clinics_set_merges_protocol_overrides_and_removes_one_on_request(
    env: dict[str, str],
) -> None:
    reminders(env, "clinics", "create", "glow", "--name", "Glow")
    first = reminders(
        env,
        "clinics",
        "set",
        "glow",
        "--protocol-overrides",
        '{"steps": {"day_1": {"at": "09:30"}}}',
    )
    assert first.returncode == 0, first.stderr
    reminders(
        env,
        "clinics",
        "set",
        "glow",
        "--protocol-overrides",
        '{"steps": {"day_3": {"enabled": false}}}',
    )
    reminders(
        env, "clinics", "set", "glow", "--protocol-overrides", '{"steps": {"day_1": {"days": 2}}}'
    )
    assert clinic_json(env, "glow")["protocol_overrides"] == {
        "steps": {"day_1": {"at": "09:30", "days": 2}, "day_3": {"enabled": False}}
    }
    removed = reminders(env, "clinics", "set", "glow", "--remove-override", "day_1")
    assert removed.returncode == 0, removed.stderr
    assert clinic_json(env, "glow")["protocol_overrides"] == {
        "steps": {"day_3": {"enabled": False}}
    }
    reminders(env, "clinics", "set", "glow", "--protocol-overrides", '{"steps": {"day_3": null}}')
    assert clinic_json(env, "glow")["protocol_overrides"] == {}


def test_rotate_secret_refuses_a_negative_grace_period(env: dict[str, str]) -> None:
    created = reminders(env, "clinics", "create", "glow", "--name", "Glow", "--json")
    result = reminders(env, "clinics", "rotate-secret", "glow", "--grace-hours", "-1")
    assert result.returncode == 1 and "grace: cannot be negative" in result.stderr
    assert "Traceback" not in result.stderr
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        clinic = session.get(Clinic, "glow")
        assert clinic is not None
        assert clinic.webhook_secret == json.loads(created.stdout)["secret"]
    engine.dispose()
