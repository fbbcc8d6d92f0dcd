"""Only the clinic, signing with its current (or, during a rotation, previous) secret, gets in."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from reminders.cli.webhook_sender import event_body, signed_headers
from reminders.db import session_scope
from reminders.intake.clinics import new_secret, rotate_secret
from reminders.models import Clinic
from tests.webhooks.conftest import CLINIC, Hooks, treatment_completed


def test_a_correctly_signed_event_is_accepted(hooks: Hooks) -> None:
    response = hooks.post_event("treatment.completed", treatment_completed())
    assert response.status_code == 202, response.text
    assert response.json()["patient_id"] == "p-1"


def test_missing_signature_headers_are_refused_and_write_nothing(hooks: Hooks) -> None:
    before = hooks.counts()
    body = event_body("treatment.completed", treatment_completed())
    response = hooks.client.post(f"/v1/clinics/{CLINIC}/events", content=body)
    assert response.status_code == 401
    assert "webhook-signature" in response.json()["detail"]
    assert hooks.counts() == before


def test_a_signature_made_with_another_secret_is_refused(hooks: Hooks) -> None:
    before = hooks.counts()
    response = hooks.post_event("treatment.completed", treatment_completed(), secret=new_secret())
    assert response.status_code == 401
    assert hooks.counts() == before


def test_a_body_changed_after_signing_is_refused(hooks: Hooks) -> None:
    body = event_body("treatment.completed", treatment_completed())
    headers = signed_headers(hooks.secret, body)
    tampered = body.replace(b'"Ana"', b'"Eve"')
    response = hooks.client.post(f"/v1/clinics/{CLINIC}/events", content=tampered, headers=headers)
    assert response.status_code == 401


def test_a_garbled_signature_header_is_refused_not_a_server_error(hooks: Hooks) -> None:
    body = event_body("treatment.completed", treatment_completed())
    headers = signed_headers(hooks.secret, body) | {"webhook-signature": "v1,%%%not base64"}
    response = hooks.client.post(f"/v1/clinics/{CLINIC}/events", content=body, headers=headers)
    assert response.status_code == 401


def test_timestamps_more_than_five_minutes_off_are_refused(hooks: Hooks) -> None:
    now = datetime.now(UTC)
    for at in (now - timedelta(minutes=6), now + timedelta(minutes=6)):
        response = hooks.post_event("treatment.completed", treatment_completed(), at=at)
        assert response.status_code == 401, at
    inside = hooks.post_event(
        "treatment.completed", treatment_completed(), at=now - timedelta(minutes=4)
    )
    assert inside.status_code == 202


def test_an_unknown_clinic_is_refused(hooks: Hooks) -> None:
    response = hooks.post_event("treatment.completed", treatment_completed(), clinic="nobody")
    assert response.status_code == 401


def test_an_unknown_clinic_and_a_bad_signature_read_the_same_so_clinic_ids_cannot_be_probed(
    hooks: Hooks,
) -> None:
    event = treatment_completed()
    unknown = hooks.post_event("treatment.completed", event, clinic="nobody")
    forged = hooks.post_event("treatment.completed", event, secret=new_secret())
    body = event_body("treatment.completed", event)
    unsigned_known = hooks.client.post(f"/v1/clinics/{CLINIC}/events", content=body)
    unsigned_unknown = hooks.client.post("/v1/clinics/nobody/events", content=body)
    answers = {(r.status_code, r.text) for r in (unknown, forged, unsigned_known, unsigned_unknown)}
    assert len(answers) == 1, answers


def test_a_replayed_delivery_returns_the_stored_answer_and_writes_nothing(hooks: Hooks) -> None:
    first = hooks.post_event("treatment.completed", treatment_completed(), webhook_id="msg_1")
    after_first = hooks.counts()
    again = hooks.post_event("treatment.completed", treatment_completed(), webhook_id="msg_1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert hooks.counts() == after_first


def test_during_a_rotation_old_and_new_secrets_both_work_until_the_old_expires(
    hooks: Hooks,
) -> None:
    old = hooks.secret
    now = hooks.clock.now
    with session_scope(hooks.engine) as session:
        clinic = session.get(Clinic, CLINIC)
        assert clinic is not None
        new = rotate_secret(session, clinic, now, grace=timedelta(hours=1))
    data = treatment_completed()
    assert hooks.post_event("treatment.completed", data, secret=old).status_code == 202
    assert hooks.post_event("treatment.completed", data, secret=new).status_code == 202
    with session_scope(hooks.engine) as session:
        clinic = session.get(Clinic, CLINIC)
        assert clinic is not None
        clinic.previous_secret_expires_at = now - timedelta(seconds=1)
    assert hooks.post_event("treatment.completed", data, secret=old).status_code == 401
    assert hooks.post_event("treatment.completed", data, secret=new).status_code == 202


def test_concurrent_deliveries_of_one_webhook_id_apply_once_and_answer_alike(
    hooks: Hooks,
) -> None:
    body = event_body("treatment.completed", treatment_completed())
    headers = signed_headers(hooks.secret, body, webhook_id="msg_race")
    barrier = threading.Barrier(4)

    def deliver() -> tuple[int, str]:
        barrier.wait()
        response = hooks.client.post(f"/v1/clinics/{CLINIC}/events", content=body, headers=headers)
        return response.status_code, response.text

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: deliver(), range(4)))
    assert {code for code, _ in answers} == {202}
    assert len({json.dumps(json.loads(text), sort_keys=True) for _, text in answers}) == 1
    counts = hooks.counts()
    assert (counts["webhookreceipt"], counts["patient"], counts["treatment"]) == (1, 1, 1)
