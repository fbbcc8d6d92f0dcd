"""HELP, the unsubscribe pages and the clinic alert come from the templates, in both languages."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from reminders.cli.answer_lint import Sample, lint_answers
from reminders.db import session_scope
from reminders.delivery.rendering import TEMPLATE_DIR, Renderer, sms_size
from reminders.delivery.sms_rules import OPT_OUT, sms_problems
from reminders.inbound.alerts import alert_email
from reminders.inbound.handler import Inbound, handle_inbound
from reminders.inbound.help_answer import HelpRequest, help_text
from reminders.models import Clinic, InboundReply, Patient
from tests.factories import make_clinic, make_patient_with_treatment

LANGS = ("en", "es")
SAMPLE = Sample()
NOW = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)
renderer = Renderer()


def edited_copy(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    """A copy of the packaged templates with one file's `old` replaced by `new`."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, copy)
    path = copy / relative
    assert old in path.read_text(), relative
    path.write_text(path.read_text().replace(old, new))
    return copy


def failing(directory: Path) -> dict[tuple[str, str, str], list[str]]:
    """(template, language, channel) -> problems, for every answer, page and alert that fails."""
    rows = lint_answers(Renderer(directory), list(LANGS), SAMPLE)
    return {(r.step, r.lang, r.channel): r.problems for r in rows if r.problems}


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "Riverside Dermatology Studio: aftercare reminders."),
        ("es", "Riverside Dermatology Studio: recordatorios de cuidados."),
    ],
)
def test_the_help_answer_is_rendered_from_the_templates_in_one_gsm7_segment(lang, expected):
    for phone in (SAMPLE.clinic_phone, ""):
        text = help_text(renderer, HelpRequest(SAMPLE.clinic_name, phone, lang))
        assert text.startswith(expected) and OPT_OUT[lang] in text
        assert (SAMPLE.clinic_phone in text) is bool(phone)
        assert sms_problems(text, lang, SAMPLE.clinic_name, first_sms=True) == [], text
        assert sms_size(text).encoding == "GSM-7" and sms_size(text).segments == 1


@pytest.mark.parametrize(("lang", "opening"), [("en", "Your clinic: "), ("es", "Tu centro: ")])
def test_help_from_an_unknown_number_names_no_clinic(lang, opening) -> None:
    text = help_text(renderer, HelpRequest("", "", lang))
    assert text.startswith(opening) and OPT_OUT[lang] in text


def test_the_spanish_help_speaks_to_the_patient_as_tu_like_every_spanish_sms() -> None:
    text = help_text(renderer, HelpRequest("Glow", "+34 911", "es"))
    assert "Llama al +34 911" in text and "Responde STOP" in text
    assert "Llame" not in text and "Responda" not in text
    # "Puede tener coste" reads as usted ("you may be charged"): the cost is the texts'.
    assert "Puede" not in text and "Los SMS pueden costar." in text


def test_no_spanish_sms_template_speaks_as_usted() -> None:
    usted = ("usted", "Llame", "Responda", "Puede ", "Escriba", "Contacte")
    for path in sorted((TEMPLATE_DIR / "sms" / "es").glob("*.txt")):
        source = path.read_text(encoding="utf-8").split("#}", 1)[-1]
        assert not [word for word in usted if word in source], path.name


@pytest.mark.parametrize(("locale", "word"), [("en", "Reply"), ("es-MX", "Responde")])
def test_help_from_a_patient_is_answered_in_their_language(engine: Engine, locale, word) -> None:
    make_clinic(engine)
    make_patient_with_treatment(engine, locale=locale)
    with session_scope(engine) as session:
        result = handle_inbound(session, Inbound("+15555550123", "HELP", "SMh"), NOW)
    assert result.help == HelpRequest("Glow Clinic", "(555) 010-0000", locale)
    assert word in help_text(renderer, result.help)


def test_the_shipped_answers_pages_and_alerts_pass_the_lint() -> None:
    assert failing(TEMPLATE_DIR) == {}


def test_lint_catches_a_help_answer_longer_than_one_segment(tmp_path: Path) -> None:
    longer = "costar, segun tu tarifa y tu operador."
    copy = edited_copy(tmp_path, "sms/es/help.txt", "costar.", longer)
    [(key, problems)] = failing(copy).items()
    assert key == ("help", "es", "sms")
    assert any("an answer fits one" in p for p in problems)


def test_lint_catches_a_help_answer_that_no_longer_says_how_to_stop(tmp_path: Path) -> None:
    copy = edited_copy(tmp_path, "sms/en/help.txt", "Reply STOP to opt out, ", "")
    assert failing(copy) == {
        ("help", "en", "sms"): ["a first SMS must say 'Reply STOP to opt out'"]
    }


def test_lint_catches_an_unsubscribe_page_that_acts_without_asking(tmp_path: Path) -> None:
    page = "page/es/unsubscribe_confirm.html"
    copy = edited_copy(tmp_path, page, 'method="post"', 'method="get"')
    problems = failing(copy)
    assert list(problems) == [("unsubscribe_confirm", "es", "page")]
    assert "following a link alone must change nothing" in problems[list(problems)[0]][0]


def test_lint_catches_a_broken_or_missing_page(tmp_path: Path) -> None:
    copy = edited_copy(
        tmp_path, "page/en/unsubscribe_done.html", "{{ clinic_name }}", "{{ clinic }}"
    )
    (copy / "page" / "es" / "unsubscribe_done.html").unlink()
    problems = failing(copy)
    assert "does not render: UndefinedError" in problems[("unsubscribe_done", "en", "page")][0]
    assert problems[("unsubscribe_done", "es", "page")] == ["missing page/es/unsubscribe_done.html"]


def test_lint_catches_an_alert_that_drops_the_patients_words(tmp_path: Path) -> None:
    copy = edited_copy(tmp_path, "clinic_email/es/warning_alert.txt", "{{ body }}", "(oculto)")
    assert failing(copy) == {
        ("warning_alert", "es", "clinic email"): ["their message is missing from the text"]
    }


def test_lint_catches_an_alert_reading_a_variable_it_is_not_given(tmp_path: Path) -> None:
    copy = edited_copy(
        tmp_path, "clinic_email/en/warning_alert.txt", "Phone: {{ phone }}", "{{ email }}"
    )
    [problem] = failing(copy)[("warning_alert", "en", "clinic email")]
    assert "'email' is undefined" in problem


def alert_for(clinic_locale: str) -> tuple[str, str]:
    clinic = Clinic(id="c", name="Glow", email="alerts@glow.example", locale=clinic_locale)
    patient = Patient(id=7, clinic_id="c", external_id="p-1", first_name="Ana",
                      phone="+34612345678", email="ana@example.com",
                      timezone="Europe/Madrid")  # fmt: skip
    reply = InboundReply(id=3, from_number="+34612345678", body="tengo fiebre y pus",
                         received_at=datetime(2030, 5, 2, 21, 5, tzinfo=UTC))  # fmt: skip
    outgoing = alert_email(renderer, clinic, patient, reply, ("pus", "fever"))
    assert outgoing.to == "alerts@glow.example" and outgoing.idempotency_key == "alert:3"
    assert "ana@example.com" not in outgoing.text + outgoing.subject
    return outgoing.subject, outgoing.text


def test_the_alert_is_written_in_the_clinics_language() -> None:
    subject, text = alert_for("es")
    assert subject == "Alerta de cuidados: el paciente p-1 indica pus, fiebre"
    assert "menciona: pus, fiebre." in text and "Teléfono: +34612345678" in text
    assert "Paciente: Ana (id en la clínica: p-1)" in text and "tengo fiebre y pus" in text


def test_the_alert_gives_the_time_in_the_clinics_language_and_the_patients_local_time() -> None:
    _, text = alert_for("es")
    assert "Recibido: jueves, 2 de mayo de 2030, 23:05 (Europe/Madrid; 21:05 UTC)" in text


@pytest.mark.parametrize("locale", ["en", "fr", "en-GB"])
def test_a_clinic_without_a_translated_alert_gets_it_in_english(locale: str) -> None:
    subject, text = alert_for(locale)
    assert subject == "Aftercare alert: patient p-1 reports pus, fever"
    assert text.splitlines()[:6] == [
        "A patient's reply to an aftercare reminder mentions: pus, fever.",
        "",
        "Patient: Ana (your id p-1)",
        "Phone: +34612345678",
        "Received: Thursday, May 2, 2030, 11:05 PM (Europe/Madrid; 21:05 UTC)"
        if locale != "en-GB"
        else "Received: Thursday, 2 May 2030, 23:05 (Europe/Madrid; 21:05 UTC)",
        "",
    ]


@pytest.mark.parametrize(
    ("lang", "question", "button", "done"),
    [
        ("en", "Stop aftercare emails from Skin &amp; Co?", "Unsubscribe", "Done: Skin &amp; Co"),
        ("es", "¿Dejar de recibir los correos de cuidados de Skin &amp; Co?", "Darme de baja",
         "Listo: Skin &amp; Co no te enviará más correos"),
    ],
)  # fmt: skip
def test_the_unsubscribe_pages_come_in_both_languages_with_the_clinic_escaped(
    lang, question, button, done
) -> None:
    asked = renderer.page("unsubscribe_confirm", lang, {"clinic_name": "Skin & Co"})
    assert f'<html lang="{lang}">' in asked and question in asked
    assert f'<form method="post"><button type="submit">{button}</button></form>' in asked
    assert done in renderer.page("unsubscribe_done", lang, {"clinic_name": "Skin & Co"})
