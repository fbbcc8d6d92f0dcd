"""REMINDERS_TEMPLATES_DIR points the API and the workers at another templates directory."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from reminders.api.app import create_app
from reminders.channels.base import Channel
from reminders.channels.console import ConsoleChannel
from reminders.cli.root import app as cli
from reminders.cli.templates import Sample, sample_context
from reminders.config import Settings, SettingsError, load_settings
from reminders.consent.unsubscribe import token_for
from reminders.db import session_scope
from reminders.delivery.rendering import TEMPLATE_DIR
from reminders.intake.clinics import create_clinic
from tests.webhooks.conftest import (
    CLINIC,
    LINK_SECRET,
    PUBLIC_URL,
    TWILIO_TOKEN,
    Hooks,
    SetClock,
    treatment_completed,
)
from workers.runtime import build_runtime

# One word changed in each kind of template the service renders.
EDITS = {
    "sms/en/help.txt": ("aftercare reminders", "skincare reminders"),
    "page/en/unsubscribe_confirm.html": ("Stop aftercare emails", "End skincare emails"),
    "clinic_email/en/warning_alert.subject.txt": ("Aftercare alert", "Skincare alert"),
    "sms/en/day_1.txt": ("makeup", "make-up"),
}


@pytest.fixture
def own_templates(tmp_path: Path) -> Path:
    """A copy of the packaged templates with the EDITS made."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, copy)
    for relative, (old, new) in EDITS.items():
        path = copy / relative
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
    return copy


def settings_with(templates: Path, database_url: str, redis_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        twilio_auth_token=TWILIO_TOKEN,
        public_url=PUBLIC_URL,
        secret_key=LINK_SECRET,
        templates_dir=templates,
    )


def test_the_api_answers_help_shows_pages_and_alerts_from_the_configured_directory(
    engine: Engine, database_url: str, redis_url: str, own_templates: Path
) -> None:
    with session_scope(engine) as session:
        _clinic, secret = create_clinic(
            session, CLINIC, "Glow Clinic", default_region="ES", email="alerts@glow.example"
        )
    alerts = io.StringIO()
    channels: dict[str, Channel] = {
        "email": ConsoleChannel("email", stream=alerts, show_bodies=True)
    }
    settings = settings_with(own_templates, database_url, redis_url)
    api = create_app(settings, channels=channels, clock=SetClock())
    with TestClient(api) as client:
        hooks = Hooks(client, engine, secret, alerts)
        english = treatment_completed(patient__locale="en")
        assert hooks.post_event("treatment.completed", english).status_code == 202
        form = {"From": "+34612345678", "Body": "HELP", "MessageSid": "SM1"}
        assert (
            "Glow Clinic: skincare reminders" in hooks.post_twilio("/v1/twilio/inbound", form).text
        )
        form = {"From": "+34612345678", "Body": "I have a fever", "MessageSid": "SM2"}
        assert hooks.post_twilio("/v1/twilio/inbound", form).status_code == 200
        patient_id = hooks.patient().id
        assert patient_id is not None
        page = client.get(f"/v1/unsubscribe/{token_for(patient_id, LINK_SECRET.encode())}")
    assert "End skincare emails from Glow Clinic?" in page.text
    assert "Skincare alert: patient p-1 reports fever" in alerts.getvalue()


def test_the_worker_renders_reminders_and_alerts_from_the_configured_directory(
    database_url: str, redis_url: str, own_templates: Path
) -> None:
    runtime = build_runtime(settings_with(own_templates, database_url, redis_url))
    assert runtime.renderer.directory == own_templates
    assert runtime.deliverer.transmitter.renderer is runtime.renderer
    context = sample_context(Sample(), "en", first_sms=False)
    assert "make-up" in runtime.renderer.sms("day_1", "en", context)


def test_the_packaged_templates_are_the_default_and_a_wrong_directory_is_refused(
    tmp_path: Path,
) -> None:
    assert load_settings().templates_dir == TEMPLATE_DIR
    with pytest.raises(SettingsError, match="REMINDERS_TEMPLATES_DIR: .*not a templates directory"):
        load_settings(templates_dir=tmp_path / "nowhere")


def test_lint_checks_the_configured_directory_unless_told_another(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(TEMPLATE_DIR, broken)
    (broken / "sms" / "es" / "help.txt").write_text("{{ clinic_nmae }}")
    env = {"REMINDERS_TEMPLATES_DIR": str(broken)}
    result = CliRunner().invoke(cli, ["templates", "lint"], env=env)
    assert result.exit_code == 1 and "clinic_nmae" in result.output
    told = ["templates", "lint", "--templates", str(TEMPLATE_DIR)]
    assert CliRunner().invoke(cli, told, env=env).exit_code == 0
