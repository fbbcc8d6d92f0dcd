"""A clinic's own templates and email branding: linted before saving, rendered only for it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from jinja2 import TemplateError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from reminders.cli.answer_lint import Sample
from reminders.cli.clinic_templates import lint_for
from reminders.cli.root import app
from reminders.cli.templates import sample_context
from reminders.db import session_scope
from reminders.delivery.look_cache import LookCache
from reminders.delivery.looks import Branding, Look, LookError, check_branding, check_name
from reminders.delivery.rendering import TEMPLATE_DIR, Renderer
from reminders.intake.clinic_looks import set_branding, set_template
from reminders.models import AuditEntry, Clinic, ClinicBranding, ClinicTemplate
from reminders.outbox.claim import claim_due
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment
from tests.fakes.channels import ScriptedChannel
from tests.outbox_helpers import deliverer, row

DAY_1 = "sms/en/day_1.txt"
GENTLE = (
    "{{ clinic_name }}: Hi{% if first_name %} {{ first_name }}{% endif %}, a gentle note from"
    " your care team. Keep out of the sun today."
    "{% if first_sms %} Reply STOP to opt out.{% endif %}"
)
TOO_EARLY = (
    "{{ clinic_name }}: makeup is ok now.{% if first_sms %} Reply STOP to opt out.{% endif %}"
)
SHIPPED = Renderer()


def two_clinics_with_due_rows(engine: Engine, channel: str = "sms") -> dict[str, int]:
    """Clinics A and B, one patient each, one due day_1 row each, claimed: clinic -> row id."""
    now = datetime.now(UTC)
    ids = {}
    for clinic_id, name in (("clinic-a", "Glow Clinic"), ("clinic-b", "Other Skin Studio")):
        make_clinic(engine, clinic_id, name=name, window_start=time(0), window_end=time(0))
        patient, treatment = make_patient_with_treatment(engine, clinic_id, f"p-{clinic_id}")
        assert patient.id is not None and treatment.id is not None
        insert_due_messages(engine, 1, clinic_id, patient.id, treatment.id,
                            now - timedelta(minutes=1), channel=channel)  # fmt: skip
    claimed = claim_due(engine, now, 10, "test", timedelta(minutes=2))
    for message_id in claimed:
        ids[row(engine, message_id).clinic_id] = message_id
    return ids


def override(engine: Engine, clinic_id: str, name: str, body: str | None) -> int:
    """Save an override through the same lint the CLI runs."""
    with session_scope(engine) as session:
        clinic = session.get(Clinic, clinic_id)
        assert clinic is not None
        return set_template(session, clinic_id, name, body, "cli:test",
                            lint_for(session, clinic, SHIPPED))  # fmt: skip


def brand(engine: Engine, clinic_id: str, **values: str) -> Branding:
    with session_scope(engine) as session:
        clinic = session.get(Clinic, clinic_id)
        assert clinic is not None
        return set_branding(session, clinic_id, values, "cli:test",
                            lint_for(session, clinic, SHIPPED))  # fmt: skip


def sent_texts(channel: ScriptedChannel) -> dict[int, str]:
    return {outgoing.message_id: outgoing.text for outgoing in channel.sent}


def test_clinic_a_override_is_sent_to_a_patients_only_and_each_row_names_its_version(
    engine: Engine,
) -> None:
    ids = two_clinics_with_due_rows(engine)
    assert override(engine, "clinic-a", DAY_1, GENTLE) == 1
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver(list(ids.values()), "w1")
    texts = sent_texts(channel)
    assert "a gentle note from your care team" in texts[ids["clinic-a"]]
    assert texts[ids["clinic-b"]].startswith("Other Skin Studio: Hi Ana, makeup is OK again")
    assert row(engine, ids["clinic-a"]).template_version == "clinic:clinic-a sms/en/day_1.txt@v1"
    assert row(engine, ids["clinic-b"]).template_version == SHIPPED.shipped_stamp()
    assert SHIPPED.shipped_stamp().startswith("shipped:")


def test_an_override_claiming_too_early_is_refused_with_the_lints_reason_and_nothing_written(
    engine: Engine,
) -> None:
    two_clinics_with_due_rows(engine)
    with pytest.raises(LookError, match="makeup_ok.*first_night"):
        override(engine, "clinic-a", "sms/en/first_night.txt", TOO_EARLY)
    with Session(engine) as session:
        assert session.exec(select(ClinicTemplate)).all() == []
        assert session.exec(select(AuditEntry)).all() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{{ clinic_name }}: hi {{ frist_name }}", "unknown variables frist_name"),
        ("{{ clinic_name }}: {{ ''.__class__.__mro__ }}", "SecurityError"),
        ("{{ clinic_name }}: your microneedling went well. " * 2, "procedure or clinical"),
        ("{{ clinic_name }}: " + "Keep out of the sun. " * 20, "segments"),
        ("{{ clinic_name }}: don\u2019t worry", "curly quotes"),
        ("Hi, keep out of the sun.", "clinic's name is missing"),
        ("{{ clinic_name }}: hi {% if %}", "not a valid template"),
        ("{{ clinic_name }}: hi {{ first_name|safe }}", "safe and autoescape"),
        ("{% autoescape false %}{{ clinic_name }}{% endautoescape %}", "safe and autoescape"),
    ],
)
def test_the_lint_refuses_what_breaks_a_rule(engine: Engine, body: str, reason: str) -> None:
    make_clinic(engine, "clinic-a")
    with pytest.raises(LookError, match=reason):
        override(engine, "clinic-a", DAY_1, body)
    with Session(engine) as session:
        assert session.exec(select(ClinicTemplate)).all() == []


def test_clinic_templates_render_in_a_sandbox() -> None:
    look = Look("clinic-a", {DAY_1: (1, "{{ clinic_name.__class__.__mro__ }}")})
    with pytest.raises(TemplateError, match="unsafe"):
        Renderer(look=look).sms("day_1", "en", {"clinic_name": "Glow"})


def test_reset_goes_back_to_shipped_keeps_the_history_and_audits_both_versions(
    engine: Engine,
) -> None:
    ids = two_clinics_with_due_rows(engine)
    override(engine, "clinic-a", DAY_1, GENTLE)
    override(engine, "clinic-a", DAY_1, GENTLE.replace("gentle", "kind"))
    override(engine, "clinic-a", DAY_1, None)
    channel = ScriptedChannel("sms")
    deliverer(engine, channel).deliver([ids["clinic-a"]], "w1")
    assert "makeup is OK again" in sent_texts(channel)[ids["clinic-a"]]
    assert row(engine, ids["clinic-a"]).template_version == SHIPPED.shipped_stamp()
    with Session(engine) as session:
        versions = session.exec(select(ClinicTemplate.version, ClinicTemplate.body)).all()
        audits = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    assert [(v, b is None) for v, b in versions] == [(1, False), (2, False), (3, True)]
    assert [(a.action, a.before, a.after) for a in audits] == [
        ("template.set", {"version": "shipped"}, {"version": 1}),
        ("template.set", {"version": 1}, {"version": 2}),
        ("template.reset", {"version": 2}, {"version": "shipped"}),
    ]
    assert {a.clinic_id for a in audits} == {"clinic-a"}
    assert audits[0].target == "template:clinic-a/sms/en/day_1.txt"


def test_a_running_worker_uses_a_new_version_from_its_next_batch(engine: Engine) -> None:
    ids = two_clinics_with_due_rows(engine)
    override(engine, "clinic-a", DAY_1, GENTLE)
    channel = ScriptedChannel("sms")
    worker = deliverer(engine, channel)
    worker.deliver([ids["clinic-a"]], "w1")
    override(engine, "clinic-a", DAY_1, GENTLE.replace("gentle", "kind"))
    with engine.begin() as connection:  # send the same row again, as a second batch
        connection.execute(sa.text("UPDATE message SET status = 'claimed', lease_owner = 'w1'"))
    worker.deliver([ids["clinic-a"]], "w1")
    assert ["gentle" in o.text for o in channel.sent] == [True, False]
    assert row(engine, ids["clinic-a"]).template_version.endswith("@v2")


def test_an_unchanged_look_costs_one_query_per_batch(engine: Engine) -> None:
    two_clinics_with_due_rows(engine)
    override(engine, "clinic-a", DAY_1, GENTLE)
    cache = LookCache(engine, SHIPPED)
    cache.refresh(["clinic-a", "clinic-b"])
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    cache.refresh(["clinic-a", "clinic-b"])
    assert len(statements) == 1
    assert cache.renderer("clinic-b") is SHIPPED and cache.renderer("clinic-a") is not SHIPPED


def test_branding_shows_in_clinic_a_emails_only(engine: Engine) -> None:
    ids = two_clinics_with_due_rows(engine, channel="email")
    logo = "https://glow.example/logo.png"
    brand(engine, "clinic-a", logo_url=logo, colour="#aa3366", footer="Glow, since 1999")
    channel = ScriptedChannel("email")
    deliverer(engine, channel).deliver(list(ids.values()), "w1")
    html = {o.message_id: o.html for o in channel.sent}
    text = sent_texts(channel)
    assert f'<img src="{logo}"' in html[ids["clinic-a"]] and "#aa3366" in html[ids["clinic-a"]]
    assert (
        "Glow, since 1999" in html[ids["clinic-a"]] and "Glow, since 1999" in text[ids["clinic-a"]]
    )
    assert logo not in html[ids["clinic-b"]] and "#aa3366" not in html[ids["clinic-b"]]
    assert "since 1999" not in text[ids["clinic-b"]] and "#2f5d62" in html[ids["clinic-b"]]
    assert row(engine, ids["clinic-a"]).template_version == "clinic:clinic-a branding@v1"
    assert row(engine, ids["clinic-b"]).template_version == SHIPPED.shipped_stamp()


def test_bad_branding_is_refused_naming_the_field_and_nothing_is_written(engine: Engine) -> None:
    make_clinic(engine, "clinic-a")
    for values, reason in [
        ({"logo_url": "http://glow.example/logo.png"}, "logo_url.*https"),
        ({"logo_url": 'https://x.example/a.png" onerror="x'}, "logo_url"),
        ({"colour": "red"}, "colour.*#2f5d62"),
        ({"background": "#12345"}, "background"),
        ({"footer": "x" * 501}, "footer.*500"),
    ]:
        with pytest.raises(LookError, match=reason):
            brand(engine, "clinic-a", **values)
    with Session(engine) as session:
        assert session.exec(select(ClinicBranding)).all() == []
        assert session.exec(select(AuditEntry)).all() == []


def test_only_shipped_patient_message_templates_can_be_overridden() -> None:
    assert check_name(TEMPLATE_DIR, " email/layout.html ") == "email/layout.html"
    for name in ("sms/en/nope.txt", "sms/en/help.txt", "page/en/unsubscribe_done.html",
                 "sms/../../pyproject.toml", "/etc/passwd"):  # fmt: skip
        with pytest.raises(LookError):
            check_name(TEMPLATE_DIR, name)
    assert check_branding({"colour": "#AA3366", "logo_url": None}) == {"colour": "#AA3366"}


@pytest.fixture
def env(engine: Engine, database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"REMINDERS_DATABASE_URL": database_url, "REMINDERS_VAR_DIR": str(tmp_path),
            "USER": "front-desk"}  # fmt: skip


def test_the_cli_sets_previews_and_refuses_per_clinic(
    engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    make_clinic(engine, "clinic-a", name="Glow Clinic")
    make_clinic(engine, "clinic-b", name="Other Skin Studio")
    (tmp_path / "bad.txt").write_text(TOO_EARLY)
    (tmp_path / "good.txt").write_text(GENTLE)
    runner = CliRunner()
    refused = runner.invoke(app, ["templates", "set", "clinic-a", "sms/en/first_night.txt",
                                  "--file", str(tmp_path / "bad.txt")], env=env)  # fmt: skip
    assert refused.exit_code == 1 and "makeup_ok" in refused.output
    saved = runner.invoke(app, ["templates", "set", "clinic-a", DAY_1, "--file",
                                str(tmp_path / "good.txt")], env=env)  # fmt: skip
    assert saved.exit_code == 0, saved.output
    a = runner.invoke(app, ["templates", "preview", "clinic-a", "day_1", "--first-sms"], env=env)
    b = runner.invoke(app, ["templates", "preview", "clinic-b", "day_1"], env=env)
    assert "Glow Clinic: Hi Guadalupe, a gentle note" in a.output and "Reply STOP" in a.output
    assert "clinic:clinic-a sms/en/day_1.txt@v1" in a.output
    assert (
        "Other Skin Studio: Hi Guadalupe, makeup is OK" in b.output and "care team" not in b.output
    )
    (tmp_path / "kind.txt").write_text(GENTLE.replace("gentle", "kind"))
    kind = ["templates", "set", "clinic-a", DAY_1, "--file", str(tmp_path / "kind.txt")]
    assert runner.invoke(app, kind, env=env).exit_code == 0
    rollback = runner.invoke(app, ["templates", "set", "clinic-a", DAY_1, "--from-version", "1"],
                             env=env)  # fmt: skip
    assert rollback.exit_code == 0 and "version 3" in rollback.output
    listed = runner.invoke(app, ["templates", "list", "clinic-a", "--history"], env=env)
    assert "sms/en/day_1.txt" in listed.output and "cli:front-desk" in listed.output
    shown = runner.invoke(app, ["templates", "show", "clinic-b", DAY_1], env=env)
    assert "makeup is OK again" in shown.output
    with Session(engine) as session:
        assert {t.clinic_id for t in session.exec(select(ClinicTemplate))} == {"clinic-a"}


def test_check_finds_an_override_a_shipped_change_broke_and_names_only_that_clinic(
    engine: Engine, env: dict[str, str]
) -> None:
    make_clinic(engine, "clinic-a", name="Glow Clinic")
    make_clinic(engine, "clinic-b", name="Other Skin Studio")
    with session_scope(engine) as session:  # as if saved before a release renamed a variable
        session.add(ClinicTemplate(clinic_id="clinic-a", name=DAY_1, version=1,
                                   body="{{ clinic_name }}: hi {{ patient_name }}"))  # fmt: skip
    result = CliRunner().invoke(app, ["templates", "check"], env=env)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("clinic clinic-a") and "problems" in line for line in lines)
    assert any(line.startswith("clinic clinic-b") and line.endswith("ok") for line in lines)
    assert "unknown variables patient_name" in result.output


def test_an_override_is_for_one_language_and_regional_variants_fall_back_to_it() -> None:
    spanish = "{{ clinic_name }}: hola, un mensaje de tu clinica."
    look = Look("clinic-a", {"sms/es/day_1.txt": (4, spanish)})
    clinic = SHIPPED.for_clinic(look)
    context = {**sample_context(Sample(), "es", False), "clinic_name": "Glow"}
    assert clinic.sms("day_1", "es-MX", context) == "Glow: hola, un mensaje de tu clinica."
    assert clinic.stamp("sms", "day_1", "es-MX") == "clinic:clinic-a sms/es/day_1.txt@v4"
    assert clinic.sms("day_1", "en", context) == SHIPPED.sms("day_1", "en", context)
    assert clinic.stamp("sms", "day_1", "en") == SHIPPED.shipped_stamp()
    assert clinic.stamp("email", "day_1", "es") == SHIPPED.shipped_stamp()


def test_an_email_layout_without_the_unsubscribe_footer_is_refused(engine: Engine) -> None:
    make_clinic(engine, "clinic-a")
    layout = (TEMPLATE_DIR / "email" / "layout.html").read_text()
    assert override(engine, "clinic-a", "email/layout.html", layout.replace("<hr", "<hr id=x")) == 1
    without_footer = layout.replace('{% include "email/" ~ lang ~ "/_footer.html" %}', "")
    with pytest.raises(LookError, match="no unsubscribe link in the HTML part"):
        override(engine, "clinic-a", "email/layout.html", without_footer)
    with pytest.raises(LookError, match="already has this text"):
        override(engine, "clinic-a", "email/layout.html", layout.replace("<hr", "<hr id=x"))
