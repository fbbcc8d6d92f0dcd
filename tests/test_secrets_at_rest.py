"""Clinic secrets are Fernet tokens in the database; keys rotate; files are owner-only."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders import secretbox
from reminders.config import load_settings
from reminders.db import make_engine
from reminders.migration import upgrade
from reminders.models import Clinic
from tests import harness
from tests.conftest import TEST_DATABASE_URL, TEST_ENCRYPTION_KEY
from tests.harness import BIN

SECRETS = ("webhook_secret", "previous_webhook_secret", "events_secret", "twilio_auth_token")
RAW = sa.table("clinic", sa.column("id", sa.String), *(sa.column(n, sa.String) for n in SECRETS))
PLAIN = {
    "webhook_secret": "whsec_current-A",
    "previous_webhook_secret": "whsec_previous-A",
    "events_secret": "whsec_events-A",
    "twilio_auth_token": "auth-token-of-clinic-a",
}


@pytest.fixture(autouse=True)
def test_key() -> Iterator[None]:
    secretbox.configure(load_settings(encryption_keys=TEST_ENCRYPTION_KEY))
    yield
    secretbox.configure(load_settings(encryption_keys=TEST_ENCRYPTION_KEY))


def raw_row(engine: Engine, clinic_id: str) -> dict[str, str]:
    with engine.connect() as connection:
        row = connection.execute(sa.select(RAW).where(RAW.c.id == clinic_id)).mappings().one()
    return {name: row[name] for name in SECRETS}


def add_clinics(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Clinic(id="clinic-a", name="A", **PLAIN))
        session.add(Clinic(id="clinic-b", name="B", webhook_secret="whsec_current-B"))
        session.commit()


def test_every_clinic_secret_is_stored_encrypted_and_read_back_plain(any_engine: Engine) -> None:
    add_clinics(any_engine)
    stored = raw_row(any_engine, "clinic-a")
    for name, plain in PLAIN.items():
        assert plain not in stored[name]
        assert Fernet(TEST_ENCRYPTION_KEY).decrypt(stored[name].encode()).decode() == plain
    assert raw_row(any_engine, "clinic-b")["events_secret"] == ""  # no secret stays empty
    with Session(any_engine) as session:
        a, b = session.get(Clinic, "clinic-a"), session.get(Clinic, "clinic-b")
        assert a is not None and b is not None
        assert {name: getattr(a, name) for name in SECRETS} == PLAIN
        assert b.webhook_secret == "whsec_current-B" and b.twilio_auth_token == ""


def test_rotate_key_re_encrypts_every_clinics_secrets_with_the_first_key(
    any_engine: Engine,
) -> None:
    from reminders.cli.secrets import reseal_all

    add_clinics(any_engine)
    new = Fernet.generate_key().decode()
    secretbox.configure(load_settings(encryption_keys=f"{new},{TEST_ENCRYPTION_KEY}"))
    with Session(any_engine) as session:
        assert reseal_all(session) == 5
        session.commit()
    for clinic_id in ("clinic-a", "clinic-b"):
        for value in filter(None, raw_row(any_engine, clinic_id).values()):
            Fernet(new).decrypt(value.encode())
            with pytest.raises(InvalidToken):
                Fernet(TEST_ENCRYPTION_KEY).decrypt(value.encode())
    secretbox.configure(load_settings(encryption_keys=new))  # the old key is gone
    with Session(any_engine) as session:
        a = session.get(Clinic, "clinic-a")
        assert a is not None and a.twilio_auth_token == PLAIN["twilio_auth_token"]


def test_a_secret_no_configured_key_opens_is_a_clear_setup_error(any_engine: Engine) -> None:
    add_clinics(any_engine)
    secretbox.configure(load_settings(encryption_keys=Fernet.generate_key().decode()))
    with (
        Session(any_engine) as session,
        pytest.raises(secretbox.UndecryptableSecretError, match="REMINDERS_ENCRYPTION_KEYS"),
    ):
        session.get(Clinic, "clinic-a")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_encrypts_plaintext_secrets_and_the_downgrade_decrypts_them(
    backend: str, tmp_path: Path
) -> None:
    if backend == "postgresql" and not TEST_DATABASE_URL.startswith("postgresql"):
        pytest.skip("PostgreSQL tests need REMINDERS_TEST_DATABASE_URL (see README)")
    url = harness.new_database(TEST_DATABASE_URL if backend == "postgresql" else None, tmp_path)
    engine = make_engine(url)
    try:
        upgrade(engine, "0011_outbound_events")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO clinic (id, name, phone, email, booking_url, address,"
                    " default_region, locale, window_start, window_end, sms_per_day,"
                    " sms_per_week, protocol, protocol_overrides, webhook_secret,"
                    " previous_webhook_secret, created_at, events_url, events_secret,"
                    " sms_from, sms_messaging_service_sid, twilio_account_sid,"
                    " twilio_auth_token) VALUES ('clinic-a', 'A', '', '', '', '', 'US', 'en',"
                    " '08:00:00', '20:00:00', 1, 3, 'microneedling', '{}', :w, :p,"
                    " '2026-01-01 00:00:00', '', :e, '', '', '', :t)"
                ),
                {
                    "w": PLAIN["webhook_secret"],
                    "p": PLAIN["previous_webhook_secret"],
                    "e": PLAIN["events_secret"],
                    "t": PLAIN["twilio_auth_token"],
                },
            )
        upgrade(engine)
        stored = raw_row(engine, "clinic-a")
        assert all(PLAIN[name] not in stored[name] for name in SECRETS)
        with Session(engine) as session:
            clinic = session.get(Clinic, "clinic-a")
            assert clinic is not None and clinic.events_secret == PLAIN["events_secret"]
        from alembic import command

        from reminders.migration import alembic_config

        command.downgrade(alembic_config(engine), "0011_outbound_events")
        assert raw_row(engine, "clinic-a") == PLAIN
    finally:
        engine.dispose()
        harness.drop_database(url)


def test_embedded_defaults_make_one_owner_only_key_database_and_var_dir(tmp_path: Path) -> None:
    var = tmp_path / "var"
    settings = load_settings(var_dir=var, encryption_keys="", database_url="")
    first = secretbox.keys_for(settings)
    assert secretbox.keys_for(settings) == first  # made once, then read
    Fernet(first[0].encode())
    make_engine(settings.effective_database_url).dispose()
    assert stat.S_IMODE(os.stat(var).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(var / "encryption_key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(var / "reminders.db").st_mode) == 0o600


def test_a_deployment_without_encryption_keys_is_refused_naming_the_setting() -> None:
    settings = load_settings(encryption_keys="", database_url="postgresql://db/reminders")
    with pytest.raises(Exception, match="REMINDERS_ENCRYPTION_KEYS"):
        secretbox.keys_for(settings)


def test_rotate_key_command_says_how_many_secrets_it_re_encrypted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    engine = harness.migrated_engine(url)
    add_clinics(engine)
    new = Fernet.generate_key().decode()
    env = dict(
        os.environ,
        REMINDERS_DATABASE_URL=url,
        REMINDERS_VAR_DIR=str(tmp_path),
        REMINDERS_ENCRYPTION_KEYS=f"{new},{TEST_ENCRYPTION_KEY}",
    )
    done = subprocess.run(
        [str(BIN / "reminders"), "secrets", "rotate-key"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 5 secrets" in done.stdout
    Fernet(new).decrypt(raw_row(engine, "clinic-b")["webhook_secret"].encode())
    engine.dispose()
