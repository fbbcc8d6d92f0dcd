"""Every template renders in both languages and meets the SMS rules; lint guards edits."""

from __future__ import annotations

import shutil
from dataclasses import replace as dc_replace
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from typer.testing import CliRunner

from reminders.cli.root import app
from reminders.cli.templates import (
    DELIVERIES,
    NEXT_SESSION,
    STEP_KEYS,
    TREATED_AT,
    Sample,
    lint,
    sample_context,
)
from reminders.delivery.composition import context_for
from reminders.delivery.rendering import TEMPLATE_DIR, Renderer, gsm_fold, sms_size
from reminders.delivery.sms_rules import OPT_OUT, sms_problems
from reminders.inbound.acknowledgement import TEMPLATE as ACK
from reminders.inbound.acknowledgement import ack_context
from reminders.models import Clinic, Patient, Treatment
from reminders.planning.protocol import load_protocol

LANGS = ("en", "es")
SAMPLE = Sample()
# The sample clinic's phone as the sample patient, in the same country, dials it.
SHOWN_PHONE = "(415) 555-0134"
renderer = Renderer()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", STEP_KEYS)
def test_every_step_has_an_sms_that_meets_the_rules(key, lang) -> None:
    for first_sms in (True, False):
        text = renderer.sms(key, lang, sample_context(SAMPLE, lang, first_sms))
        assert sms_problems(text, lang, SAMPLE.clinic_name, first_sms) == [], text
        assert sms_size(text).encoding == "GSM-7"
        assert (OPT_OUT[lang] in text) is first_sms


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", STEP_KEYS)
def test_every_step_has_an_email_with_subject_text_and_html(key, lang) -> None:
    context = sample_context(SAMPLE, lang, first_sms=False)
    email = renderer.email(key, lang, context)
    assert email.subject and "\n" not in email.subject
    assert SAMPLE.clinic_name in email.text and context["unsubscribe_url"] in email.text
    assert email.html.startswith("<!doctype html>") and f'<html lang="{lang}">' in email.html
    assert context["unsubscribe_url"] in email.html and "{{" not in email.html


@pytest.mark.parametrize("key", ["first_night", "day_1", "day_3", "day_7"])
def test_early_emails_carry_the_warning_signs_and_how_to_reach_the_clinic(key) -> None:
    for lang, word in (("en", "infection"), ("es", "infección")):
        text = renderer.email(key, lang, sample_context(SAMPLE, lang, False)).text
        assert word in text and SHOWN_PHONE in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "key", ["book_next_session", "book_next_session_again", "results_check_in"]
)
def test_a_clinic_without_a_booking_link_is_offered_by_phone(key, lang) -> None:
    sample = Sample(booking_url="")
    context = sample_context(sample, lang, first_sms=True)
    sms = renderer.sms(key, lang, context)
    email = renderer.email(key, lang, context)
    assert sms_problems(sms, lang, sample.clinic_name, True) == [], sms
    our_site = context["unsubscribe_url"].split("/v1/")[0]
    for text in (sms, email.text, email.html):
        assert SHOWN_PHONE in text
        assert our_site not in text.replace(context["unsubscribe_url"], ""), text
    assert 'href=""' not in email.html


@pytest.mark.parametrize(("lang", "words"), [("en", "without makeup"), ("es", "sin maquillaje")])
def test_the_day_before_a_session_asks_the_patient_to_come_without_makeup(lang, words) -> None:
    context = sample_context(SAMPLE, lang, first_sms=True)
    email = renderer.email("session_day_before", lang, context)
    for text in (renderer.sms("session_day_before", lang, context), email.text, email.html):
        assert words in text


def test_spanish_sms_templates_avoid_the_accents_gsm7_lacks() -> None:
    for path in (TEMPLATE_DIR / "sms" / "es").glob("*.txt"):
        assert not set(path.read_text()) & set("áíóúÁÍÓÚ"), path.name


def test_an_accented_patient_name_is_folded_so_the_sms_stays_gsm7() -> None:
    context = sample_context(Sample(first_name="María José Nuñez"), "es", True)
    text = renderer.sms("day_3", "es", context)
    assert "Hola Maria José Nuñez," in text
    assert sms_size(text).encoding == "GSM-7"
    assert gsm_fold("“Zoë” said\u00a0hi") == '"Zoe" said hi'
    assert gsm_fold("王") == "王"


def test_a_missing_first_name_still_greets_politely() -> None:
    context = sample_context(Sample(first_name=""), "en", False)
    assert ": Hi, " in renderer.sms("day_1", "en", context)
    assert renderer.email("day_1", "en", context).text.startswith("Hi,\n")


def test_html_escapes_clinic_values_but_text_keeps_them() -> None:
    context = sample_context(Sample(clinic_name="Skin & Co <Downtown>"), "en", False)
    email = renderer.email("day_1", "en", context)
    assert "Skin &amp; Co &lt;Downtown&gt;" in email.html and "<Downtown>" not in email.html
    assert "Skin & Co <Downtown>" in email.text


def test_an_undefined_variable_is_an_error_not_a_blank(tmp_path: Path) -> None:
    (tmp_path / "sms" / "en").mkdir(parents=True)
    (tmp_path / "sms" / "en" / "day_1.txt").write_text("{{ clinic_nmae }}: hi")
    with pytest.raises(UndefinedError):
        Renderer(tmp_path).sms("day_1", "en", {"clinic_name": "X"})


def test_a_regional_locale_uses_its_language_and_an_unknown_one_english() -> None:
    assert "Hola" in renderer.sms("day_1", "es-MX", sample_context(SAMPLE, "es-MX", False))
    assert ": Hi " in renderer.sms("day_1", "fr", sample_context(SAMPLE, "fr", False))


def test_session_times_are_in_the_patients_zone_and_language() -> None:
    session = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # after Madrid's spring DST change
    clinic = Clinic(id="c", name="C")
    treatment = Treatment(clinic_id="c", patient_id=1, external_id="t", ended_at=session,
                          next_session_at=session)  # fmt: skip
    spanish = Patient(id=1, clinic_id="c", external_id="p", timezone="Europe/Madrid", locale="es")
    english = Patient(id=1, clinic_id="c", external_id="p", timezone="America/New_York")
    es = context_for(spanish, clinic, treatment, "http://x", False, b"k", session)
    en = context_for(english, clinic, treatment, "http://x", False, b"k", session)
    assert es["session_at"] == "lunes, 30 de marzo de 2026, 10:00"
    assert es["session_at_short"] == "lun, 30 mar, 10:00"
    assert en["session_at"] == "Monday, March 30, 2026, 4:00 AM"
    assert en["session_at_short"] == "Mon, Mar 30, 4:00 AM"


@pytest.mark.parametrize(
    "text, encoding, segments",
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters cost two units
        ("€" * 81, "GSM-7", 2),
        ("é¿¡ñü" * 32, "GSM-7", 1),  # these Spanish letters are in the GSM-7 basic set
        ("á" * 70, "UCS-2", 1),
        ("á" * 71, "UCS-2", 2),
        ("á" * 134, "UCS-2", 2),
        ("á" * 135, "UCS-2", 3),
        ("🙂" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("🙂" * 36, "UCS-2", 2),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3),  # an escape pair is never split
        ("a" * 66 + "🙂" + "a" * 66, "UCS-2", 3),  # nor is a surrogate pair
    ],
)
def test_segments_follow_the_real_gsm7_and_ucs2_rules(text, encoding, segments) -> None:
    size = sms_size(text)
    assert (size.encoding, size.segments) == (encoding, segments)


def test_the_rules_catch_what_a_careless_edit_brings() -> None:
    problems = sms_problems("Skin: your microneedling went well’ " + "x" * 300, "en", "Glow", True)
    joined = " | ".join(problems)
    for expected in ("curly quotes", "segments", "clinic's name", "Reply STOP", "microneedling"):
        assert expected in joined


runner = CliRunner()


def test_lint_passes_on_the_shipped_templates() -> None:
    result = runner.invoke(app, ["templates", "lint"])
    assert result.exit_code == 0, result.output
    assert "all 50 templates pass" in result.output


def test_lint_fails_on_a_deliberately_broken_template(tmp_path: Path) -> None:
    edited = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, edited)
    day_3 = edited / "sms" / "es" / "day_3.txt"
    day_3.write_text(day_3.read_text().replace("Sigue", "Tras el microneedling sigue"))
    (edited / "email" / "en" / "day_7.txt").write_text("Hi {{ frist_name }}")
    (edited / "sms" / "en" / "day_14.txt").unlink()
    result = runner.invoke(app, ["templates", "lint", "--templates", str(edited)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "microneedling" in output and "frist_name" in output and "missing" in output
    assert "3 of 50 templates break a rule" in output


@pytest.mark.parametrize("lang", LANGS)
def test_the_warning_ack_is_gsm7_one_segment_and_free_of_clinical_words(lang) -> None:
    for phone in (SAMPLE.clinic_phone, ""):
        text = renderer.sms(ACK, lang, ack_context(SAMPLE.clinic_name, phone))
        assert sms_problems(text, lang, SAMPLE.clinic_name, first_sms=False) == [], text
        assert sms_size(text).encoding == "GSM-7" and sms_size(text).segments == 1
        assert (SAMPLE.clinic_phone in text) is bool(phone)


def test_lint_fails_on_a_warning_ack_longer_than_one_segment(tmp_path: Path) -> None:
    edited = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, edited)
    ack = edited / "sms" / "en" / f"{ACK}.txt"
    ack.write_text(ack.read_text().replace("soon", "as soon as we possibly can, " * 2))
    result = runner.invoke(app, ["templates", "lint", "--templates", str(edited)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "an answer fits one" in output and "1 of 50 templates break a rule" in output


def test_every_shipped_steps_wording_is_true_when_it_may_arrive() -> None:
    rows = lint(TEMPLATE_DIR, SAMPLE)
    assert [(r.step, r.lang, r.channel, r.problems) for r in rows if r.problems] == []


def test_every_claim_is_found_in_the_shipped_templates_so_its_phrases_stay_current() -> None:
    said = set()
    for claim in load_protocol().claims:
        for key, lang, delivered_at in product(STEP_KEYS, LANGS, DELIVERIES):
            context = sample_context(SAMPLE, lang, False, delivered_at)
            email = renderer.email(key, lang, context)
            for text in (renderer.sms(key, lang, context), email.text, email.html):
                if claim.said_in(text):
                    said.add(claim.key)
    assert said == {claim.key for claim in load_protocol().claims}


def test_lint_catches_advice_sent_earlier_than_it_is_true() -> None:
    protocol = load_protocol()
    early = dc_replace(protocol.step("day_1"), not_before_hours=2)
    steps = tuple(early if step.key == "day_1" else step for step in protocol.steps)
    rows = lint(TEMPLATE_DIR, SAMPLE, [dc_replace(protocol, steps=steps)])
    failing = {(r.step, r.lang, r.channel) for r in rows if r.problems}
    assert failing == {("day_1", lang, channel) for lang in LANGS for channel in ("sms", "email")}
    problem = "says 'makeup_ok' (true from 24 h) but step 'day_1' may go at 2 h (not_before_hours)"
    assert all(problem in r.problems for r in rows if r.problems)


def test_lint_catches_tonight_in_a_message_that_may_come_the_next_morning(tmp_path: Path) -> None:
    edited = tmp_path / "templates"
    shutil.copytree(TEMPLATE_DIR, edited)
    sms = edited / "sms" / "en" / "first_night.txt"
    sms.write_text(sms.read_text().replace("for 24h after", "tonight and for 24h after"))
    [row] = [r for r in lint(edited, SAMPLE) if r.problems]
    assert (row.step, row.lang, row.channel) == ("first_night", "en", "sms")
    assert row.problems == ["says 'treatment_evening' when on_treatment_day is false"]


@pytest.mark.parametrize(("lang", "evening"), [("en", "Tonight"), ("es", "Esta noche")])
def test_first_night_advice_moved_to_the_next_morning_speaks_of_the_first_24_hours(
    lang: str, evening: str
) -> None:
    that_evening = sample_context(SAMPLE, lang, False, TREATED_AT + timedelta(hours=2))
    next_morning = sample_context(SAMPLE, lang, False, TREATED_AT + timedelta(hours=16))
    assert evening in renderer.email("first_night", lang, that_evening).text
    text = renderer.email("first_night", lang, next_morning).text
    assert evening.lower() not in text.lower() and "24" in text
    assert " today" not in text and " hoy" not in text


@pytest.mark.parametrize(("lang", "tomorrow"), [("en", "tomorrow"), ("es", "mañana")])
def test_the_day_before_reminder_says_tomorrow_only_the_day_before(
    lang: str, tomorrow: str
) -> None:
    day_before = sample_context(SAMPLE, lang, False, NEXT_SESSION - timedelta(days=1))
    same_day = sample_context(SAMPLE, lang, False, NEXT_SESSION - timedelta(hours=2))
    assert tomorrow in renderer.sms("session_day_before", lang, day_before)
    assert tomorrow in renderer.email("session_day_before", lang, day_before).subject
    moved = renderer.email("session_day_before", lang, same_day)
    assert tomorrow not in renderer.sms("session_day_before", lang, same_day)
    assert tomorrow not in moved.subject and tomorrow not in moved.text
    assert same_day["session_at"] in moved.text


def test_the_clinic_phone_is_national_for_a_patient_in_its_country_else_international() -> None:
    from reminders.delivery.composition import context_for

    clinic = Clinic(id="c", name="Glow", phone="+34911234567")
    treatment = Treatment(clinic_id="c", patient_id=1, external_id="t", ended_at=TREATED_AT)
    shown = {}
    for phone in ("+34612345678", "+12025550123", None):
        patient = Patient(id=1, clinic_id="c", external_id="p", first_name="Ana", phone=phone)
        context = context_for(patient, clinic, treatment, "https://x.example", True, b"k",
                              TREATED_AT)  # fmt: skip
        shown[phone] = context["clinic_phone"]
    assert shown == {
        "+34612345678": "911 23 45 67",
        "+12025550123": "+34 911 23 45 67",
        None: "+34 911 23 45 67",
    }
