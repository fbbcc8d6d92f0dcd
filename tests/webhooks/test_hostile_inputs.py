"""Hostile inputs, signed or not: each answers a 4xx naming the problem and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from reminders.api.sessions import COOKIE
from reminders.cli.webhook_sender import signed_headers
from reminders.intake.csv_rows import import_rows
from tests.opsclient import add_operator, login, make_client
from tests.webhooks.conftest import CLINIC, NOW, OPERATOR_TOKEN, Hooks, treatment_completed

BEARER = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
HUGE = "9" * 30


@pytest.mark.parametrize(
    "path",
    [
        "/v1/unsubscribe/%C2%B2.x",
        "/v1/unsubscribe/" + "7" * 5000 + ".abc",
        "/v1/unsubscribe/1.%C3%A9%C3%A9",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_malformed_unsubscribe_link_is_not_found(hooks: Hooks, method: str, path: str) -> None:
    before = hooks.counts()
    answer = hooks.client.request(method, path)
    assert answer.status_code == 404, answer.text
    assert hooks.counts() == before


@pytest.mark.parametrize(
    "path",
    [
        f"/ops/patients/{HUGE}",
        "/ops/patients/3000000000",
        "/ops/patients/-1",
        "/ops/messages?page=abc",
        f"/ops/messages?page={HUGE}",
        "/ops/messages?page=3000000000",
        "/ops/messages?status=bogus",
        "/ops/messages?patient=a%00b",
        "/ops/messages?clinic=a%00b",
        "/ops/messages?channel=a%00b",
        "/ops/messages?due_from=99999-01-01",
        "/ops/audit?actor=a%00b",
        "/ops/audit?clinic=a%00b",
        "/ops/audit?action=a%00b",
        "/ops/events?clinic=a%00b",
        "/ops/events?page=abc",
    ],
)
def test_odd_dashboard_queries_answer_a_page_not_a_crash(hooks: Hooks, path: str) -> None:
    answer = hooks.client.get(path, headers=BEARER)
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("text/html"), answer.text


@pytest.mark.parametrize("message_id", [HUGE, "3000000000"])
def test_an_action_on_an_impossible_message_id_is_not_found(hooks: Hooks, message_id: str) -> None:
    before = hooks.counts()
    answer = hooks.client.post(f"/ops/messages/{message_id}/cancel", headers=BEARER)
    assert 400 <= answer.status_code < 500, answer.text
    assert hooks.counts() == before


@pytest.mark.parametrize("token", ["tok\u00e9n", "x" * 5000])
def test_a_non_ascii_bearer_token_is_refused(hooks: Hooks, token: str) -> None:
    answer = hooks.client.get(
        "/ops/messages", headers={"Authorization": f"Bearer {token}".encode()}
    )
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize("cookie", ["e30.\u00e9", "\u00e9.abc", "abc", "e30=.zz", "a.b.c"])
def test_a_forged_session_cookie_is_refused(hooks: Hooks, cookie: str) -> None:
    answer = hooks.client.get("/ops/messages", headers={"Cookie": f"{COOKIE}={cookie}".encode()})
    assert answer.status_code in (401, 303), answer.text


@pytest.mark.parametrize("query", [f"message_id={HUGE}", "message_id=%C2%B2", "message_id=-5"])
def test_a_status_callback_with_an_impossible_message_id_changes_nothing(
    hooks: Hooks, query: str
) -> None:
    before = hooks.counts()
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": ""}
    answer = hooks.post_twilio(f"/v1/twilio/status?{query}", form)
    assert answer.status_code < 500, answer.text
    assert hooks.counts() == before


def post_signed(hooks: Hooks, body: bytes) -> Any:
    headers = signed_headers(hooks.secret, body, None, None)
    return hooks.client.post("/v1/clinics/glow/events", content=body, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe{not utf-8",
        b'{"type": "treatment.completed", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"type": "treatment.completed", "data": {"patient": "\xe9"}}',
    ],
    ids=["latin-1", "nested-data", "nested", "bad-byte-in-string"],
)
def test_a_signed_body_that_is_not_json_is_refused_by_name(hooks: Hooks, body: bytes) -> None:
    before = hooks.counts()
    answer = post_signed(hooks, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["problems"], answer.text
    assert hooks.counts() == before


@pytest.mark.parametrize(
    "ended_at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2000-01-01T00:00:00+14:00",
        "2029-04-30T14:00:00+00:00",  # a year and a day before the clock (2030-05-01)
    ],
)
def test_an_implausible_treatment_date_is_refused_by_name(hooks: Hooks, ended_at: str) -> None:
    before = hooks.counts()
    answer = hooks.post_event("treatment.completed", treatment_completed(ended_at=ended_at))
    assert answer.status_code == 422, answer.text
    fields = [p["field"] for p in answer.json()["problems"]]
    assert fields == ["data.treatment.ended_at"], answer.text
    assert hooks.counts() == before


@pytest.mark.parametrize(
    "next_at", ["9999-12-31T23:59:59-14:00", "2031-05-02T14:00:00+00:00", "0001-01-01T00:00:00Z"]
)
def test_an_implausible_booking_is_refused_by_name(hooks: Hooks, next_at: str) -> None:
    assert hooks.post_event("treatment.completed", treatment_completed()).status_code == 202
    before = hooks.counts()
    answer = hooks.post_event(
        "appointment.booked", {"patient_id": "p-1", "next_session_at": next_at}
    )
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == ["data.next_session_at"]
    assert hooks.counts() == before


def test_a_treatment_within_the_last_year_is_still_accepted(hooks: Hooks) -> None:
    answer = hooks.post_event(
        "treatment.completed", treatment_completed(ended_at="2029-05-03T14:00:00+00:00")
    )
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    "value", [HUGE, "1e400", json.dumps("x" * 300)], ids=["huge-int", "huge-float", "long-str"]
)
def test_odd_numbers_in_an_event_are_refused_by_name(hooks: Hooks, value: str) -> None:
    before = hooks.counts()
    data = json.dumps(treatment_completed()).replace(
        '"session_number": 1', f'"session_number": {value}'
    )
    body = ('{"type": "treatment.completed", "data": ' + data + "}").encode()
    answer = post_signed(hooks, body)
    assert answer.status_code == 422, answer.text
    assert hooks.counts() == before


def test_a_non_ascii_webhook_signature_is_refused(hooks: Hooks) -> None:
    body = b'{"type": "patient.opted_out", "data": {"patient_id": "p"}}'
    headers = signed_headers(hooks.secret, body, None, None)
    headers["webhook-signature"] = "v1,\u00e9\u00e9"
    answer = hooks.client.post(
        "/v1/clinics/glow/events",
        content=body,
        headers={k: v.encode() for k, v in headers.items()},
    )
    assert answer.status_code == 401, answer.text


def test_a_non_ascii_twilio_signature_is_refused(hooks: Hooks) -> None:
    answer = hooks.client.post(
        "/v1/twilio/inbound",
        data={"Body": "hi", "From": "+34612345678"},
        headers={"X-Twilio-Signature": "\u00e9".encode()},
    )
    assert answer.status_code == 401, answer.text


def test_a_non_utf8_twilio_form_is_refused(hooks: Hooks) -> None:
    answer = hooks.client.post(
        "/v1/twilio/inbound",
        content=b"Body=%FF%FE&From=%2B34612345678",
        headers={"X-Twilio-Signature": "abc", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= answer.status_code < 500, answer.text


@pytest.mark.parametrize(
    "form",
    [
        {"username": "\u00e9" * 3, "password": "\x00"},
        {"username": "a\x00b", "password": "x"},
        {"username": "a" * 100, "password": "b" * 2000},
    ],
)
def test_odd_login_forms_are_refused_with_the_form(hooks: Hooks, form: dict[str, str]) -> None:
    answer = hooks.client.post("/ops/login", data=form)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("ended_at", ["2029-04-01T10:00:00+02:00", "9999-12-31T23:59:59-14:00"])
def test_a_csv_row_with_an_implausible_date_is_rejected_like_the_event(
    hooks: Hooks, ended_at: str
) -> None:
    row = {
        "external_id": "p-csv",
        "first_name": "Ana",
        "timezone": "Europe/Madrid",
        "treatment_id": "t-csv",
        "ended_at": ended_at,
    }
    before = hooks.counts()
    report = import_rows(hooks.engine, CLINIC, [(2, row)], clock=lambda: NOW)
    assert report.rejected_rows == 1
    [rejection] = report.rejections
    assert rejection.column == "ended_at", rejection
    assert "within a year" in rejection.problem or "2000 and 2100" in rejection.problem
    assert hooks.counts() == before


def test_a_non_ascii_csrf_token_is_refused(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    add_operator(engine, "ana")
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        login(client, "ana")
        answer = client.post("/ops/messages/1/cancel", data={"csrf_token": "\u00e9t\u00e9"})
    assert answer.status_code == 403, answer.text
    assert "CSRF" in answer.text
