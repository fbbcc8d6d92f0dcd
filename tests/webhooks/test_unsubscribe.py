"""Email unsubscribe links: unguessable, confirmed before acting, and effective at once."""

from __future__ import annotations

from reminders.config import load_settings
from reminders.consent.unsubscribe import link_key, patient_of, token_for
from tests.webhooks.conftest import LINK_SECRET, Hooks, treatment_completed


def test_a_token_names_its_patient_and_a_forged_one_names_nobody() -> None:
    token = token_for(42, b"key")
    assert patient_of(token, b"key") == 42
    assert patient_of(token, b"other key") is None
    assert patient_of("43." + token.partition(".")[2], b"key") is None
    assert patient_of("42", b"key") is None and patient_of("x.y", b"key") is None


def test_without_a_configured_secret_every_local_process_shares_one_generated_key(
    tmp_path,
) -> None:
    first = link_key(load_settings(var_dir=tmp_path, secret_key=""))
    again = link_key(load_settings(var_dir=tmp_path, secret_key=""))
    assert first == again and len(first) >= 32
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
    assert link_key(load_settings(var_dir=tmp_path, secret_key="set")) == b"set"


def test_following_the_link_only_asks_and_posting_stops_every_pending_email(
    hooks: Hooks,
) -> None:
    assert hooks.post_event("treatment.completed", treatment_completed()).status_code == 202
    patient = hooks.patient()
    assert patient.id is not None
    url = f"/v1/unsubscribe/{token_for(patient.id, LINK_SECRET.encode())}"
    pending_email = {k for k, v in hooks.plan().items() if k[1] == "email" and v == "pending"}
    assert pending_email

    asked = hooks.client.get(url)
    assert asked.status_code == 200 and "<form" in asked.text
    assert hooks.patient().email_opted_out_at is None

    done = hooks.client.post(url, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert hooks.patient().email_opted_out_at is not None
    plan = hooks.plan()
    assert all(plan[key] != "pending" for key in pending_email)
    assert any(v == "pending" for (_step, channel), v in plan.items() if channel == "sms")
    assert hooks.client.post(url).status_code == 200


def test_a_forged_link_is_not_found_and_changes_nothing(hooks: Hooks) -> None:
    assert hooks.post_event("treatment.completed", treatment_completed()).status_code == 202
    patient = hooks.patient()
    before = hooks.counts()
    assert hooks.client.post(f"/v1/unsubscribe/{patient.id}.forged").status_code == 404
    assert hooks.client.get(f"/v1/unsubscribe/{patient.id}").status_code == 404
    assert hooks.patient().email_opted_out_at is None and hooks.counts() == before
