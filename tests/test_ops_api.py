"""The operator dashboard over HTTP: auth on every route, account login, CSRF, actions, pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.db import session_scope
from reminders.delivery.rendering import Renderer
from reminders.inbound.alert_outbox import deliver_alert
from reminders.inbound.handler import Inbound, handle_inbound
from reminders.models import AuditEntry
from reminders.outbox import lifecycle as lc
from tests.factories import make_clinic, make_patient_with_treatment
from tests.fakes.channels import ScriptedChannel
from tests.opsclient import BEARER, PASSWORD, add_operator, login, make_client
from tests.opsdata import NOW, Outbox

PAGES = ["/ops", "/ops/messages", "/ops/patients/1", "/ops/problems", "/ops/audit", "/metrics"]
ACTIONS = ["/ops/messages/1/retry", "/ops/messages/1/cancel", "/ops/messages/1/resolve"]


@pytest.fixture
def client(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[TestClient]:
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        yield client


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_the_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    found = 404 if "patients" in path else 200  # no patient 1 yet: answered after the check
    assert client.get(path, headers=BEARER).status_code == found


@pytest.mark.parametrize("path", [*ACTIONS, "/ops/logout"])
def test_every_action_needs_the_token(client: TestClient, path: str) -> None:
    assert client.post(path).status_code == 401
    assert client.post(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_dashboard_401_shows_the_login_form(client: TestClient) -> None:
    response = client.get("/ops")
    assert response.headers["www-authenticate"] == "Bearer"
    assert 'action="/ops/login"' in response.text


def test_without_a_configured_token_a_bearer_is_refused_not_open(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with make_client(database_url, redis_url, key_prefix, tmp_path, token="") as client:
        for path in PAGES:
            response = client.get(path, headers={"Authorization": "Bearer anything"})
            assert response.status_code == 403, path
            assert "REMINDERS_OPERATOR_TOKEN" in response.text
            assert client.get(path).status_code == 401, path
        assert client.post(ACTIONS[0]).status_code == 401
        assert client.post("/ops/login", data={"token": ""}).status_code == 422
        assert client.get("/healthz").status_code == 200


def test_login_with_a_wrong_password_is_refused(client: TestClient, engine: Engine) -> None:
    add_operator(engine, "maria")
    for username, password in (("maria", "nope"), ("nobody", PASSWORD), ("maria", "")):
        response = client.post("/ops/login", data={"username": username, "password": password})
        assert response.status_code in (401, 422), username
        assert "set-cookie" not in response.headers
    refused = client.post("/ops/login", data={"username": "maria", "password": "nope"})
    assert "wrong username or password" in refused.text


def test_login_sets_an_httponly_strict_cookie_that_opens_the_dashboard(
    client: TestClient, engine: Engine
) -> None:
    add_operator(engine, "maria")
    response = client.post("/ops/login", data={"username": "Maria ", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ops" in cookie
    page = client.get("/ops")
    assert page.status_code == 200 and "signed in as maria (admin)" in page.text


def test_a_tampered_cookie_is_refused(client: TestClient) -> None:
    client.cookies.set("reminders_ops", "bWFyaWE.abc.99999999999.deadbeef", path="/ops")
    assert client.get("/ops").status_code == 401


def test_a_cookie_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    dead = box.add(lc.DEAD)
    add_operator(engine, "maria")
    login(client, "maria")
    before = len(session_entries(engine))
    for form in ({}, {"csrf_token": "forged"}):
        response = client.post(f"/ops/messages/{dead}/retry", data=form)
        assert response.status_code == 403
    assert box.row(dead).status == lc.DEAD
    assert len(session_entries(engine)) == before


def test_retry_from_the_dashboard_requeues_and_shows_the_audit_entry(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    dead = box.add(lc.DEAD, last_error="gave up")
    add_operator(engine, "maria")
    csrf = login(client, "maria")
    response = client.post(f"/ops/messages/{dead}/retry", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith("/ops/problems")
    assert box.row(dead).status == lc.PENDING
    page = client.get(response.headers["location"])
    assert "retry done" in page.text
    audit = page.text[page.text.index('id="audit"') :]
    assert "op:maria" in audit and "dead -&gt; pending" in audit


def test_every_problem_row_offers_retry_cancel_and_mark_resolved(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    rows = {status: box.add(status) for status in (lc.DEAD, lc.FAILED, lc.UNKNOWN)}
    add_operator(engine, "maria")
    login(client, "maria")
    page = client.get("/ops/problems").text
    for status, message in rows.items():
        for action in ("cancel", "resolve") + (("retry",) if status != lc.UNKNOWN else ()):
            assert f'id="{action}-{message}"' in page, (status, action)
    assert f'id="resend-{rows[lc.UNKNOWN]}"' in page


def test_the_bearer_token_is_read_only_by_default_and_writes_nothing(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    dead = box.add(lc.DEAD)
    for action in ("retry", "cancel", "resolve"):
        response = client.post(f"/ops/messages/{dead}/{action}", headers=BEARER)
        assert response.status_code == 403 and "read-only" in response.text
    assert box.row(dead).status == lc.DEAD and session_entries(engine) == []
    assert f'id="retry-{dead}"' not in client.get("/ops/problems", headers=BEARER).text


def test_a_token_allowed_to_act_needs_no_csrf_and_is_recorded_as_token(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    box = Outbox(engine)
    pending, failed = box.add(lc.PENDING), box.add(lc.FAILED)
    settings = {"operator_token_can_act": True}
    with make_client(database_url, redis_url, key_prefix, tmp_path, **settings) as client:
        assert client.post(f"/ops/messages/{pending}/cancel", headers=BEARER).status_code == 303
        assert client.post(f"/ops/messages/{failed}/resolve", headers=BEARER).status_code == 303
        problems = client.get("/ops/problems", headers=BEARER).text
    assert box.row(pending).status == lc.CANCELLED
    assert f'id="message-{failed}"' not in problems  # resolved rows leave the list
    entries = session_entries(engine)
    assert [(e.actor, e.action) for e in entries] == [("token", "cancel"), ("token", "resolve")]


def test_unknown_messages_offer_a_clearly_labelled_resend_and_no_plain_retry(
    client: TestClient, engine: Engine
) -> None:
    unknown = Outbox(engine).add(lc.UNKNOWN)
    add_operator(engine, "maria")
    csrf = login(client, "maria")
    page = client.get("/ops/problems").text
    assert f'id="resend-{unknown}"' in page and "may duplicate" in page
    assert f'id="retry-{unknown}"' not in page
    refused = client.post(f"/ops/messages/{unknown}/retry", data={"csrf_token": csrf})
    assert "refused" in refused.headers["location"]


def test_pages_mask_contact_details(client: TestClient, engine: Engine) -> None:
    box = Outbox(engine)
    box.add(lc.DEAD, last_error="The 'To' number +15555550123 is not reachable")
    box.add(lc.SENT, "email")
    for path in ("/ops/messages", "/ops/problems", f"/ops/patients/{box.patient.id}"):
        text = client.get(path, headers=BEARER).text
        assert "+15555550123" not in text and "ana@example.com" not in text, path
        assert "+1•••••••123" in text or "a•••@example.com" in text, path


def test_messages_filter_by_status_and_patient_external_id(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    dead, sent = box.add(lc.DEAD), box.add(lc.SENT)
    text = client.get("/ops/messages?status=dead&patient=p-1", headers=BEARER).text
    assert f'id="message-{dead}"' in text and f'id="message-{sent}"' not in text
    none = client.get("/ops/messages?patient=nobody", headers=BEARER).text
    assert "0 messages" in none
    bad = client.get("/ops/messages?due_from=yesterday", headers=BEARER).text
    assert "due_from: expected a date as YYYY-MM-DD" in bad


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("after=abc", "after: not a page cursor: &#39;abc&#39;"),
        ("order=sideways", "order: expected one of"),
        ("status=bogus", "status: expected one of pending"),
        ("channel=fax", "channel: expected one of sms, email"),
    ],
)
def test_a_bad_cursor_or_filter_answers_with_the_page_and_names_the_problem(
    client: TestClient, engine: Engine, query: str, error: str
) -> None:
    dead = Outbox(engine).add(lc.DEAD)
    response = client.get(f"/ops/messages?{query}", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert error in response.text and f'id="message-{dead}"' in response.text


def test_messages_filter_by_clinic_channel_and_due_dates(
    client: TestClient, engine: Engine
) -> None:
    glow, lumen = Outbox(engine, "glow", "p-1"), Outbox(engine, "lumen", "p-2")
    early = glow.add(lc.PENDING, "sms", due_at=NOW - timedelta(days=3))
    email = glow.add(lc.PENDING, "email", due_at=NOW)
    other = lumen.add(lc.PENDING, "sms", due_at=NOW)

    def shown(query: str) -> set[int]:
        text = client.get(f"/ops/messages?{query}", headers=BEARER).text
        return {m for m in (early, email, other) if f'id="message-{m}"' in text}

    assert shown("clinic=glow") == {early, email}
    assert shown("channel=email") == {email}
    day = NOW.date()
    assert shown(f"due_from={day}&due_to={day}") == {email, other}
    assert shown(f"due_to={day - timedelta(days=1)}") == {early}


def test_a_patients_timeline_is_drawn_as_an_svg_with_one_dot_per_message(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    box.add(lc.DELIVERED), box.add(lc.SKIPPED, reason="patient opted out"), box.add(lc.PENDING)
    text = client.get(f"/ops/patients/{box.patient.id}", headers=BEARER).text
    assert '<svg id="timeline"' in text and text.count('<circle class="mark') == 3
    assert "patient opted out" in text and 'class="mark delivered"' in text


def test_problems_list_warning_alerts_the_clinic_was_not_emailed(
    client: TestClient, engine: Engine
) -> None:
    make_clinic(engine, "glow", email="")
    make_patient_with_treatment(engine, "glow", external_id="p-9")
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        alert_id = handle_inbound(session, Inbound("+15555550123", "fever", "SMp"), now).alert_id
    assert alert_id is not None
    deliver_alert(engine, ScriptedChannel("email"), alert_id, lambda: now, renderer=Renderer())
    page = client.get("/ops/problems", headers=BEARER)
    alerts = page.text[page.text.index('id="unsent-alerts"') : page.text.index('id="audit"')]
    assert "p-9" in alerts and "retry at" in alerts and "no email address" in alerts


def session_entries(engine: Engine) -> list[AuditEntry]:
    """Every audit entry, oldest first, except logins (a test's own login writes one)."""
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    return [e for e in entries if not e.action.startswith("login")]


def test_a_message_the_console_printed_is_marked_console_on_the_dashboard(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    printed = box.add(lc.SENT, provider_id="console-1", sent_at=box_now())
    sent = box.add(lc.SENT, provider_id="SM0001", sent_at=box_now())
    text = client.get("/ops/messages", headers=BEARER).text
    rows = {m: text.split(f'id="message-{m}"')[1].split("</tr>")[0] for m in (printed, sent)}
    assert 'class="console"' in rows[printed] and 'class="console"' not in rows[sent]
    overview = client.get("/ops", headers=BEARER).text
    assert 'id="printed-sms"' in overview and "1 console" in overview


def box_now() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)
