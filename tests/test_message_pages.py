"""The page of one message, the received-texts inbox and bulk actions, in two clinics."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.inbound.replies import OPT_OUT, REPLY, WARNING
from reminders.models import PATIENTS, AuditEntry, ClinicTemplate, InboundReply
from reminders.outbox import lifecycle as lc
from reminders.outbox.claim import text_digest
from reminders.outbox.status_callbacks import Report, apply_report
from tests.opsclient import add_operator, login, make_client
from tests.opsdata import NOW, Outbox


@pytest.fixture
def client(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[TestClient]:
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        yield client


def in_madrid(engine: Engine, box: Outbox) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(PATIENTS)
            .where(PATIENTS.c.id == box.patient.id)
            .values(timezone="Europe/Madrid")
        )


def test_a_message_page_shows_its_text_rendered_again_its_reports_and_audit_in_local_time(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine, "clinic-a", "p-aaa")
    in_madrid(engine, box)
    sent = box.add(lc.SENT, step_key="day_1", provider_id="SM123", sent_at=NOW)
    apply_report(engine, Report(sent, "SM123", "undelivered", "30003"), NOW + timedelta(minutes=1))
    add_operator(engine, "ada", "admin")
    csrf = login(client, "ada")
    client.post(f"/ops/messages/{sent}/retry", data={"csrf_token": csrf})

    page = client.get(f"/ops/messages/{sent}")
    assert page.status_code == 200
    text = page.text
    assert "Rendered again" in text and "SM123" in text and "30003" in text
    assert "undelivered" in text and "moved to failed" in text
    assert "2026-03-10 12:00 UTC (13:00 Europe/Madrid)" in text  # sent, in both zones
    assert "retry" in text and "failed -&gt; pending" in text  # the audit entry
    assert "+15555550123" not in text and "ana@example.com" not in text
    assert re.search(r'<pre class="text" id="text">\S', text)  # the day-1 text itself


def test_the_text_is_said_identical_to_what_was_sent_when_its_digest_matches(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    probe = box.add(lc.SENT, step_key="day_1", sent_at=NOW)
    add_operator(engine, "ada", "admin")
    login(client, "ada")
    body = re.search(
        r'<pre class="text" id="text">(.*?)</pre>', client.get(f"/ops/messages/{probe}").text, re.S
    )
    assert body is not None
    same = box.add(
        lc.SENT,
        step_key="day_1",
        sent_at=NOW,
        sent_digest=text_digest(html.unescape(body.group(1))),
    )
    other = box.add(lc.SENT, step_key="day_1", sent_at=NOW, sent_digest="0" * 64)
    assert "identical to the text sent" in client.get(f"/ops/messages/{same}").text
    assert "was <strong>different</strong>" in client.get(f"/ops/messages/{other}").text


def test_another_clinics_message_page_is_403_and_a_missing_one_404(
    client: TestClient, engine: Engine
) -> None:
    a, b = Outbox(engine, "clinic-a", "p-aaa"), Outbox(engine, "clinic-b", "p-bbb")
    theirs, ours = a.add(lc.DEAD, step_key="day_1"), b.add(lc.DEAD, step_key="day_1")
    add_operator(engine, "bea", "staff", "clinic-b")
    login(client, "bea")
    refused = client.get(f"/ops/messages/{theirs}")
    assert refused.status_code == 403 and "p-aaa" not in refused.text
    assert client.get(f"/ops/messages/{ours}").status_code == 200
    assert client.get("/ops/messages/999999").status_code == 404


def add_reply(engine: Engine, clinic_id: str | None, patient_id: int | None, kind: str,
              body: str, **fields: object) -> None:  # fmt: skip
    with Session(engine) as session:
        session.add(InboundReply(clinic_id=clinic_id, patient_id=patient_id,
                                 from_number="+15555550123", body=body, kind=kind,
                                 received_at=fields.pop("received_at", NOW), **fields))  # fmt: skip
        session.commit()


def test_the_inbox_shows_each_clinic_its_own_replies_newest_first_and_warnings_marked(
    client: TestClient, engine: Engine
) -> None:
    a, b = Outbox(engine, "clinic-a", "p-aaa"), Outbox(engine, "clinic-b", "p-bbb")
    add_reply(
        engine,
        "clinic-b",
        b.patient.id,
        REPLY,
        "thanks, older",
        received_at=NOW - timedelta(hours=2),
    )
    add_reply(engine, "clinic-b", b.patient.id, WARNING, "pus and fever", alert_due_at=NOW,
              alert_attempts=2, alert_error="mailbox full")  # fmt: skip
    add_reply(
        engine, "clinic-b", b.patient.id, OPT_OUT, "STOP", received_at=NOW - timedelta(hours=1)
    )
    add_reply(engine, "clinic-a", a.patient.id, REPLY, "secret of glow-a")
    add_reply(engine, None, None, REPLY, "no clinic knows me")
    add_operator(engine, "bea", "staff", "clinic-b")
    add_operator(engine, "ada", "admin")

    login(client, "bea")
    page = client.get("/ops/replies").text
    for theirs in ("secret of glow-a", "p-aaa", "no clinic knows me"):
        assert theirs not in page
    assert page.index("pus and fever") < page.index("STOP") < page.index("thanks, older")
    assert 'class="attention"' in page and "clinic alert email pending after 2 tries" in page
    assert "SMS stopped for this number" in page and "+15555550123" not in page
    assert 'http-equiv="refresh"' in page

    client.post("/ops/logout", data={"csrf_token": login(client, "bea")})
    login(client, "ada")
    admin = client.get("/ops/replies").text
    assert "secret of glow-a" in admin and "no clinic knows me" in admin


def test_a_bulk_retry_is_confirmed_first_then_retries_only_the_filtered_rows_auditing_each(
    client: TestClient, engine: Engine
) -> None:
    a, b = Outbox(engine, "clinic-a", "p-aaa"), Outbox(engine, "clinic-b", "p-bbb")
    dead = [b.add(lc.DEAD, step_key="day_1") for _ in range(2)]
    failed = b.add(lc.FAILED, step_key="day_1")
    a_dead = a.add(lc.DEAD, step_key="day_1")
    add_operator(engine, "bea", "staff", "clinic-b")
    csrf = login(client, "bea")
    listing = client.get("/ops/messages?clinic=clinic-b&status=dead").text
    assert 'id="bulk-retry"' in listing

    confirm = client.get("/ops/clinics/clinic-b/bulk/retry?status=dead")
    assert confirm.status_code == 200
    assert "<strong>2</strong> message(s)" in confirm.text and 'id="confirm-bulk"' in confirm.text
    assert [b.row(m).status for m in dead] == [lc.DEAD, lc.DEAD]  # the confirmation wrote nothing

    done = client.post(
        "/ops/clinics/clinic-b/bulk/retry", data={"csrf_token": csrf, "status": "dead"}
    )
    assert done.status_code == 303
    assert "retry: 2 done, 0 refused of 2 matched" in unquote_plus(done.headers["location"])
    assert [b.row(m).status for m in dead] == [lc.PENDING, lc.PENDING]
    assert b.row(failed).status == lc.FAILED and a.row(a_dead).status == lc.DEAD
    with Session(engine) as session:
        audited = sorted(
            e.message_id for e in session.exec(select(AuditEntry)) if e.action == "retry"
        )
    assert audited == sorted(dead)

    assert client.get("/ops/clinics/clinic-a/bulk/retry?status=dead").status_code == 403
    everything = client.post("/ops/clinics/clinic-b/bulk/cancel", data={"csrf_token": csrf})
    assert everything.status_code == 400 and b.row(failed).status == lc.FAILED


def test_the_text_is_rendered_from_the_template_version_recorded_on_the_row(
    client: TestClient, engine: Engine
) -> None:
    box = Outbox(engine)
    with Session(engine) as session:
        for version, word in ((1, "FIRST"), (2, "SECOND")):
            body = "{{ clinic_name }}: " + word + " wording."
            session.add(ClinicTemplate(clinic_id=box.clinic_id, name="sms/en/day_1.txt",
                                       version=version, body=body))  # fmt: skip
        session.commit()
    stamp = f"clinic:{box.clinic_id} sms/en/day_1.txt@v1"
    old = box.add(lc.SENT, step_key="day_1", sent_at=NOW, template_version=stamp)
    lost = box.add(lc.SENT, step_key="day_1", sent_at=NOW,
                   template_version=f"clinic:{box.clinic_id} sms/en/day_1.txt@v9")  # fmt: skip
    add_operator(engine, "ada", "admin")
    login(client, "ada")
    page = client.get(f"/ops/messages/{old}").text
    assert "FIRST wording" in page and "SECOND" not in page
    assert "from the template versions recorded on the row" in page
    assert "sms/en/day_1.txt@v2" in page  # what is in force now, beside it
    fallback = client.get(f"/ops/messages/{lost}").text
    assert "SECOND wording" in fallback and "can no longer be had" in fallback
