"""Settings: defaults that just work, and bad values that name their variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reminders.config import (
    ENV_FILE_VARIABLE,
    SettingsError,
    env_file,
    load_settings,
    project_dir,
)
from tests.harness import ROOT, clean_env


def test_defaults_use_a_sqlite_file_under_var_and_no_redis_url(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(var_dir=tmp_path / "var")
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("var/reminders.db")
    assert settings.redis_url == ""
    assert settings.dispatch_interval_seconds == 5
    assert not settings.twilio_configured


def test_a_bad_value_names_the_environment_variable(monkeypatch) -> None:
    monkeypatch.setenv("REMINDERS_DISPATCH_INTERVAL_SECONDS", "soon")
    with pytest.raises(SettingsError, match="REMINDERS_DISPATCH_INTERVAL_SECONDS"):
        load_settings()


def test_the_command_refuses_to_start_on_a_bad_value(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reminders.cli.root", "enroll"],
        env={"REMINDERS_MAX_ATTEMPTS": "0", "PATH": "/usr/bin:/bin", ENV_FILE_VARIABLE: ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "REMINDERS_MAX_ATTEMPTS" in result.stderr


def test_half_a_twilio_configuration_stops_start_up_naming_what_is_missing() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(twilio_account_sid="AC123", twilio_auth_token="secret")
    assert "REMINDERS_TWILIO_FROM" in str(refused.value)
    assert "REMINDERS_TWILIO_ACCOUNT_SID" not in str(refused.value)


def test_a_sender_without_credentials_stops_start_up() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(twilio_from="+15550100000")
    assert "REMINDERS_TWILIO_ACCOUNT_SID" in str(refused.value)
    assert "REMINDERS_TWILIO_AUTH_TOKEN" in str(refused.value)


def test_a_whole_twilio_configuration_or_none_is_accepted() -> None:
    whole = load_settings(
        twilio_account_sid="AC123", twilio_api_key_sid="SK1", twilio_api_key_secret="s",
        twilio_messaging_service_sid="MG1",
    )  # fmt: skip
    assert whole.twilio_configured
    assert not load_settings().twilio_configured
    assert not load_settings(twilio_auth_token="only-checks-signatures").twilio_configured


@pytest.mark.parametrize(
    ("name", "value"),
    [("REMINDERS_DATABASE_URL", "postgres-on-the-box"), ("REMINDERS_REDIS_URL", "localhost:6379")],
)
def test_a_url_that_cannot_be_used_names_its_variable(monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_var_defaults_to_the_project_directory_whatever_the_shells_directory(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.delenv("REMINDERS_VAR_DIR", raising=False)
    monkeypatch.delenv("REMINDERS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.var_dir == project_dir() / "var" == ROOT / "var"
    assert settings.effective_database_url == f"sqlite:///{ROOT / 'var' / 'reminders.db'}"


def test_the_env_file_is_the_projects_unless_named_or_turned_off(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    assert env_file() == ROOT / ".env"
    own = tmp_path / "staging.env"
    own.write_text("REMINDERS_DISPATCH_BATCH_SIZE=7\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(own))
    assert load_settings().dispatch_batch_size == 7
    monkeypatch.setenv(ENV_FILE_VARIABLE, "")
    assert env_file() is None and load_settings().dispatch_batch_size == 100


def test_a_env_file_in_the_project_directory_does_not_reach_the_test_suite(tmp_path) -> None:
    # Half a Twilio configuration: read, it would stop every test that loads settings.
    dotenv = ROOT / ".env"
    mine = not dotenv.exists()
    if mine:
        dotenv.write_text("REMINDERS_TWILIO_ACCOUNT_SID=AC123\nREMINDERS_MAX_ATTEMPTS=0\n")
    try:
        assert not load_settings().twilio_configured  # in this process
        probe = subprocess.run(  # and in every service the suite starts
            [sys.executable, "-c",
             "from reminders.config import load_settings; s = load_settings(); "
             "print(s.twilio_account_sid or '-', s.max_attempts)"],
            env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        if mine:
            dotenv.unlink()
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["-", "6"]
