"""Operator accounts: argon2 passwords, roles, rate-limited logins, expiring sessions, SSO."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.api.app import create_app
from reminders.config import SettingsError, load_settings
from reminders.db import session_scope
from reminders.models import AuditEntry
from reminders.ops import accounts
from reminders.ops.audit import CHANGED
from tests.factories import make_clinic
from tests.opsclient import PASSWORD, add_operator, login

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dashboard(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path, clock: Clock
) -> Callable[..., TestClient]:
    """A client for an app with these extra settings, on the test's clock and peer address."""
    opened: list[TestClient] = []

    def build(peer: str = "10.0.0.9", **settings: object) -> TestClient:
        loaded = load_settings(
            database_url=database_url, redis_url=redis_url, redis_key_prefix=key_prefix,
            var_dir=tmp_path, operator_token="", **settings,
        )  # fmt: skip
        client = TestClient(
            create_app(loaded, clock=clock), follow_redirects=False, client=(peer, 5000)
        )
        opened.append(client.__enter__())
        return client

    yield build  # type: ignore[misc]
    for client in opened:
        client.__exit__(None, None, None)


def entries(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)).all())  # type: ignore[arg-type]


# Accounts


def test_a_password_is_stored_as_an_argon2id_hash_and_never_audited(engine: Engine) -> None:
    make_clinic(engine, "glow")
    add_operator(engine, "bea", "staff", "glow")
    with session_scope(engine) as session:
        account = accounts.find(session, "BEA")
        assert account is not None and account.password_hash.startswith("$argon2id$")
        accounts.change_password(session, "bea", "another long secret", "cli:ana", NOW)
    [created, changed] = entries(engine)
    assert (created.action, created.clinic_id) == ("operator create", "glow")
    assert (changed.action, changed.after) == ("operator password", {"password_hash": CHANGED})
    for entry in (created, changed):
        text = repr(entry.model_dump())
        assert PASSWORD not in text and "another long secret" not in text and "$argon2" not in text


@pytest.mark.parametrize(
    ("username", "password", "role", "clinic", "field"),
    [
        ("bea", PASSWORD, "staff", None, "clinic"),
        ("bea", PASSWORD, "staff", "nowhere", "clinic"),
        ("ada", PASSWORD, "admin", "glow", "clinic"),
        ("bea", PASSWORD, "owner", "glow", "role"),
        ("bea", "short", "staff", "glow", "password"),
        ("-bea", PASSWORD, "staff", "glow", "username"),
        ("taken", PASSWORD, "staff", "glow", "username"),
    ],
)
def test_an_account_breaking_a_rule_is_refused_naming_the_field_and_nothing_is_written(
    engine: Engine, username: str, password: str, role: str, clinic: str | None, field: str
) -> None:
    make_clinic(engine, "glow")
    add_operator(engine, "taken", "admin")
    before = len(entries(engine))
    with pytest.raises(accounts.AccountError) as refused, session_scope(engine) as session:
        accounts.create(session, username, password, role, clinic, "cli:ana", NOW)
    assert refused.value.field == field
    assert len(entries(engine)) == before


# Logins


def test_a_login_and_a_failure_are_audited_with_the_address_and_never_the_password(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "maria")
    client = dashboard()
    client.post("/ops/login", data={"username": "maria", "password": "guess-guess-guess"})
    login(client, "maria")
    failed, done = entries(engine)[-2:]
    assert (failed.actor, failed.action) == ("op:maria", "login failed")
    assert "10.0.0.9" in failed.detail and "wrong password" in failed.detail
    assert (done.actor, done.action) == ("op:maria", "login")
    assert "guess-guess-guess" not in repr([e.model_dump() for e in entries(engine)])


def test_failed_logins_lock_the_account_even_against_the_right_password(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "maria")
    client = dashboard(login_attempts=3)
    for _ in range(3):
        wrong = client.post("/ops/login", data={"username": "maria", "password": "nope-nope"})
        assert wrong.status_code == 401
    from_elsewhere = dashboard(peer="10.0.0.77", login_attempts=3)
    right = from_elsewhere.post("/ops/login", data={"username": "maria", "password": PASSWORD})
    assert right.status_code == 429 and "too many failed logins" in right.text
    assert "set-cookie" not in right.headers


def test_failed_logins_from_one_address_block_that_address_for_every_account(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "maria")
    client = dashboard(login_attempts=3)
    for name in ("ana", "ben", "cy"):
        client.post("/ops/login", data={"username": name, "password": "nope-nope"})
    refused = client.post("/ops/login", data={"username": "maria", "password": PASSWORD})
    assert refused.status_code == 429
    elsewhere = dashboard(peer="10.0.0.77", login_attempts=3)
    assert (
        elsewhere.post("/ops/login", data={"username": "maria", "password": PASSWORD}).status_code
        == 303
    )


def test_a_disabled_account_cannot_log_in(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "maria")
    with session_scope(engine) as session:
        accounts.disable(session, "maria", "cli:ana", NOW)
    response = dashboard().post("/ops/login", data={"username": "maria", "password": PASSWORD})
    assert response.status_code == 401
    assert "account disabled" in entries(engine)[-1].detail


# Sessions


@pytest.mark.parametrize(
    "change",
    [
        lambda s: accounts.disable(s, "maria", "cli:ana", NOW),
        lambda s: accounts.change_password(s, "maria", "a brand new secret", "cli:ana", NOW),
        lambda s: accounts.change_role(s, "maria", "staff", "glow", "cli:ana", NOW),
    ],
    ids=["disable", "password", "role"],
)
def test_disabling_or_changing_an_account_ends_its_sessions(
    engine: Engine, dashboard: Callable[..., TestClient], change: Callable[[Session], object]
) -> None:
    make_clinic(engine, "glow")
    add_operator(engine, "maria")
    client = dashboard()
    login(client, "maria")
    assert client.get("/ops").status_code == 200
    with session_scope(engine) as session:
        change(session)
    ended = client.get("/ops")
    assert ended.status_code == 401 and "log in again" in ended.text


def test_a_session_ends_after_the_idle_limit(
    engine: Engine, dashboard: Callable[..., TestClient], clock: Clock
) -> None:
    add_operator(engine, "maria")
    client = dashboard(session_idle_seconds=600)
    login(client, "maria")
    clock.now += timedelta(seconds=599)
    assert client.get("/ops").status_code == 200
    clock.now += timedelta(seconds=599)  # used at 599 s: the idle limit slid along
    assert client.get("/ops").status_code == 200
    clock.now += timedelta(seconds=601)
    assert client.get("/ops").status_code == 401


def test_a_session_ends_at_the_absolute_limit_however_busy(
    engine: Engine, dashboard: Callable[..., TestClient], clock: Clock
) -> None:
    add_operator(engine, "maria")
    client = dashboard(session_idle_seconds=600, session_max_seconds=3600)
    login(client, "maria")
    for _ in range(7):  # used every 500 s, never idle, up to 3500 s
        clock.now += timedelta(seconds=500)
        assert client.get("/ops").status_code == 200
    clock.now += timedelta(seconds=100)
    assert client.get("/ops").status_code == 401


def test_a_cookie_signed_with_another_secret_is_refused(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "maria")
    first = dashboard(session_secret="one-secret")
    login(first, "maria")
    second = dashboard(session_secret="another-secret")
    second.cookies = first.cookies
    assert second.get("/ops").status_code == 401


# Single sign-on proxy


def sso(**extra: object) -> dict[str, object]:
    return {"sso_user_header": "X-Forwarded-User", "sso_proxies": "10.0.0.0/29", **extra}


def test_the_sso_header_from_the_proxy_signs_in_an_existing_account_with_its_role(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    make_clinic(engine, "glow")
    add_operator(engine, "bea", "staff", "glow")
    client = dashboard(peer="10.0.0.2", **sso())
    page = client.get("/ops", headers={"X-Forwarded-User": "bea"})
    assert page.status_code == 200 and "signed in as bea (staff of glow)" in page.text
    metrics = client.get("/metrics", headers={"X-Forwarded-User": "bea"})
    assert metrics.status_code == 403  # staff never see every clinic's numbers
    unknown = client.get("/ops", headers={"X-Forwarded-User": "mallory"})
    assert unknown.status_code == 403


def test_an_sso_only_account_has_no_password_to_guess(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    with session_scope(engine) as session:
        accounts.create(session, "sam", None, "admin", None, "cli:ana", NOW)
    client = dashboard(peer="10.0.0.2", **sso())
    for password in ("", "x" * 12, "not the password of anyone"):
        refused = client.post("/ops/login", data={"username": "sam", "password": password})
        assert refused.status_code in (401, 422)
    assert client.get("/ops", headers={"X-Forwarded-User": "sam"}).status_code == 200


def test_the_sso_header_from_anyone_but_the_proxy_is_ignored(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "ada", "admin")
    client = dashboard(peer="10.0.0.9", **sso())
    assert client.get("/ops", headers={"X-Forwarded-User": "ada"}).status_code == 401


def test_an_sso_post_still_needs_the_forms_csrf_token(
    engine: Engine, dashboard: Callable[..., TestClient]
) -> None:
    add_operator(engine, "ada", "admin")
    client = dashboard(peer="10.0.0.2", **sso())
    forged = client.post("/ops/messages/1/cancel", headers={"X-Forwarded-User": "ada"})
    assert forged.status_code == 403 and "CSRF" in forged.text


def test_an_sso_header_without_proxies_is_a_configuration_error() -> None:
    with pytest.raises(SettingsError, match="REMINDERS_SSO_PROXIES"):
        load_settings(sso_user_header="X-Forwarded-User")
    with pytest.raises(SettingsError, match="REMINDERS_SSO_PROXIES"):
        load_settings(sso_user_header="X-Forwarded-User", sso_proxies="proxy.local")
