"""`reminders status`, `messages retry|cancel` and `alerts list|retry`, run as an operator would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from reminders.channels.base import SendError
from reminders.cli.root import app
from reminders.db import session_scope
from reminders.delivery.rendering import Renderer
from reminders.inbound.alert_outbox import deliver_alert, deliver_due_alerts
from reminders.inbound.handler import Inbound, handle_inbound
from reminders.models import AuditEntry
from reminders.outbox import lifecycle as lc
from tests.factories import make_clinic, make_patient_with_treatment
from tests.fakes.channels import ScriptedChannel
from tests.opsdata import Outbox


@pytest.fixture
def env(engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path):
    return {
        "REMINDERS_DATABASE_URL": database_url,
        "REMINDERS_REDIS_URL": redis_url,
        "REMINDERS_REDIS_KEY_PREFIX": key_prefix,
        "REMINDERS_VAR_DIR": str(tmp_path),
        "USER": "night-shift",
    }


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_status_exits_zero_on_a_quiet_system_and_prints_json(env: dict[str, str]) -> None:
    result = run(env, "status", "--no-workers", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["alerts"] == [] and report["due_backlog"] == 0
    assert report["queue_depths"] == {"reminders": 0}


def test_status_exits_one_when_lag_passes_the_threshold(
    env: dict[str, str], engine: Engine
) -> None:
    Outbox(engine).add(lc.PENDING, due_at=datetime.now(UTC) - timedelta(minutes=10))
    assert run(env, "status", "--no-workers", "--max-lag", "900").exit_code == 0
    result = run(env, "status", "--no-workers", "--max-lag", "60")
    assert result.exit_code == 1 and "ALERT" in result.output and "lag" in result.output


def test_status_exits_one_when_failures_pass_the_threshold(
    env: dict[str, str], engine: Engine
) -> None:
    box = Outbox(engine)
    for _ in range(3):
        box.add(lc.FAILED, updated_at=datetime.now(UTC))
    assert run(env, "status", "--no-workers", "--max-failures", "3").exit_code == 0
    result = run(env, "status", "--no-workers", "--max-failures", "2", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["alerts"] == ["3 failures in 24 h is over 2"]


def test_status_alerts_when_no_worker_answers_the_ping(env: dict[str, str]) -> None:
    result = run(env, "status", "--json")
    assert result.exit_code == 1
    assert "no worker answered the ping" in json.loads(result.output)["alerts"]


def test_messages_retry_requeues_and_records_the_actor(env: dict[str, str], engine: Engine) -> None:
    box = Outbox(engine)
    dead, failed = box.add(lc.DEAD), box.add(lc.FAILED)
    result = run(env, "messages", "retry", str(dead), str(failed), "--actor", "maria")
    assert result.exit_code == 0, result.output
    assert box.row(dead).status == box.row(failed).status == lc.PENDING
    with Session(engine) as session:
        actors = {(e.actor, e.message_id) for e in session.exec(select(AuditEntry))}
    assert actors == {("maria", dead), ("maria", failed)}


def test_messages_cancel_uses_user_and_reports_refusals_with_exit_one(
    env: dict[str, str], engine: Engine
) -> None:
    box = Outbox(engine)
    pending, sent = box.add(lc.PENDING), box.add(lc.SENT)
    result = run(env, "messages", "cancel", str(pending), str(sent))
    assert result.exit_code == 1 and "cannot cancel a sent message" in result.output
    assert box.row(pending).status == lc.CANCELLED and box.row(sent).status == lc.SENT
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.action) == ("night-shift", "cancel")


def test_retry_of_an_unknown_message_needs_resend_unknown(
    env: dict[str, str], engine: Engine
) -> None:
    box = Outbox(engine)
    unknown = box.add(lc.UNKNOWN)
    assert run(env, "messages", "retry", str(unknown)).exit_code == 1
    assert box.row(unknown).status == lc.UNKNOWN
    assert run(env, "messages", "retry", str(unknown), "--resend-unknown").exit_code == 0
    assert box.row(unknown).status == lc.PENDING


def given_up_alert(engine: Engine) -> int:
    """A warning-sign alert the mail server refused for good."""
    make_clinic(engine, email="alerts@glow.example")
    make_patient_with_treatment(engine, external_id="p-7")
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        alert_id = handle_inbound(session, Inbound("+15555550123", "pus", "SMa"), now).alert_id
    assert alert_id is not None
    refusing = ScriptedChannel("email", [SendError(lc.PERMANENT, "550 no such mailbox")])
    assert deliver_alert(engine, refusing, alert_id, lambda: now, renderer=Renderer()) == "gave up"
    return alert_id


def test_alerts_list_shows_a_given_up_alert_and_exits_one(
    env: dict[str, str], engine: Engine
) -> None:
    assert run(env, "alerts", "list").exit_code == 0
    alert_id = given_up_alert(engine)
    result = run(env, "alerts", "list")
    assert result.exit_code == 1
    assert str(alert_id) in result.output and "p-7" in result.output
    assert "gave up" in result.output and "550" in result.output


def test_alerts_retry_queues_the_alert_again_and_records_the_actor(
    env: dict[str, str], engine: Engine
) -> None:
    alert_id = given_up_alert(engine)
    result = run(env, "alerts", "retry", str(alert_id))
    assert result.exit_code == 0, result.output
    email = ScriptedChannel("email")
    assert deliver_due_alerts(engine, email, lambda: datetime.now(UTC), renderer=Renderer()) == {
        "sent": 1
    }
    assert len(email.sent) == 1
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.action) == ("night-shift", "retry alert")
    assert run(env, "alerts", "retry", str(alert_id)).exit_code == 1  # sent: nothing to retry


def test_status_exits_one_while_an_unknown_message_waits_and_zero_once_resolved(
    env: dict[str, str], engine: Engine
) -> None:
    unknown = Outbox(engine).add(lc.UNKNOWN, updated_at=datetime.now(UTC) - timedelta(hours=1))
    waiting = run(env, "status", "--no-workers", "--max-failures", "99")
    assert waiting.exit_code == 1 and "1 unknown message(s) wait for an operator" in waiting.output
    assert run(env, "messages", "resolve", str(unknown)).exit_code == 0
    assert run(env, "status", "--no-workers", "--max-failures", "99").exit_code == 0


def test_messages_list_filters_and_masks_and_show_prints_one_message(
    env: dict[str, str], engine: Engine
) -> None:
    glow, other = Outbox(engine, "glow", "p-glow"), Outbox(engine, "other", "p-other")
    dead = glow.add(lc.DEAD, step_key="day_1", last_error="carrier said no")
    glow.add(lc.PENDING, step_key="day_1")
    other.add(lc.DEAD, step_key="day_1")
    listed = run(env, "messages", "list", "--status", "dead", "--clinic", "glow", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["id"] for r in rows] == [dead] and rows[0]["contact"] != "+15555550123"
    table = run({**env, "COLUMNS": "200"}, "messages", "list", "--status", "dead")
    assert "p-glow" in table.output and "p-other" in table.output and "UTC" in table.output
    bad = run(env, "messages", "list", "--status", "lost", "--due-from", "yesterday")
    assert bad.exit_code == 2 and "--status" in bad.output and "--due-from" in bad.output

    shown = run(env, "messages", "show", str(dead))
    assert shown.exit_code == 0, shown.output
    assert "carrier said no" in shown.output and "rendered again" in shown.output
    assert "status callbacks (0)" in shown.output and "+15555550123" not in shown.output
    assert run(env, "messages", "show", "999999").exit_code == 1


def test_messages_retry_by_filter_dry_run_changes_nothing_then_retries_each_audited(
    env: dict[str, str], engine: Engine
) -> None:
    glow, other = Outbox(engine, "glow", "p-glow"), Outbox(engine, "other", "p-other")
    dead = [glow.add(lc.DEAD), glow.add(lc.DEAD)]
    failed, theirs = glow.add(lc.FAILED), other.add(lc.DEAD)
    dry = run(env, "messages", "retry", "--status", "dead", "--clinic", "glow", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would retry 2 message(s): {dead[0]}, {dead[1]}" in dry.output
    assert [glow.row(m).status for m in dead] == [lc.DEAD, lc.DEAD]
    done = run(env, "messages", "retry", "--status", "dead", "--clinic", "glow")
    assert done.exit_code == 0, done.output
    assert [glow.row(m).status for m in dead] == [lc.PENDING, lc.PENDING]
    assert glow.row(failed).status == lc.FAILED and other.row(theirs).status == lc.DEAD
    with Session(engine) as session:
        audited = sorted(e.message_id for e in session.exec(select(AuditEntry)))
    assert audited == sorted(dead)
    nothing = run(env, "messages", "cancel")
    assert nothing.exit_code == 2 and "give message ids, or a filter" in nothing.output
