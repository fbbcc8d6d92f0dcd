"""Lint of the templates that are not protocol steps: SMS answers, web pages, clinic alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from reminders.delivery.rendering import Renderer, sms_size
from reminders.delivery.sms_rules import sms_problems
from reminders.inbound.acknowledgement import TEMPLATE as ACK_TEMPLATE
from reminders.inbound.acknowledgement import ack_context
from reminders.inbound.alerts import TEMPLATE as ALERT_TEMPLATE
from reminders.inbound.alerts import alert_context
from reminders.inbound.help_answer import TEMPLATE as HELP_TEMPLATE
from reminders.inbound.replies import WARNING
from reminders.inbound.warning_words import SIGNS
from reminders.models import InboundReply, Patient

# SMS answers to a patient's text -> whether it must say how to opt out (HELP must; the
# ack is read by a worried patient and stays short). HELP also answers unknown numbers.
REPLIES = {ACK_TEMPLATE: False, HELP_TEMPLATE: True}
PAGES = ("unsubscribe_confirm", "unsubscribe_done")
CLINIC_EMAILS = (ALERT_TEMPLATE,)


@dataclass(frozen=True)
class Sample:
    """Realistic values to render with; a clinic lints with its own."""

    first_name: str = "Guadalupe"
    clinic_name: str = "Riverside Dermatology Studio"
    clinic_phone: str = "+1 415 555 0134"
    booking_url: str = "https://book.riverside-derm.example/r/7Kq2"
    clinic_address: str = "1200 Valencia St, San Francisco"


@dataclass
class Row:
    """One line of the report: a template in a language on a channel, and what is wrong."""

    step: str
    lang: str
    channel: str
    encoding: str = ""
    size: str = ""
    problems: list[str] = field(default_factory=list)


def lint_answers(renderer: Renderer, languages: list[str], sample: Sample) -> list[Row]:
    """Every SMS answer, page and clinic email, in every language."""
    rows = [lint_reply(renderer, key, lang, sample) for key in REPLIES for lang in languages]
    rows += [lint_page(renderer, key, lang, sample) for key in PAGES for lang in languages]
    rows += [
        lint_clinic_email(renderer, key, lang, sample)
        for key in CLINIC_EMAILS
        for lang in languages
    ]
    return rows


def lint_reply(renderer: Renderer, key: str, lang: str, sample: Sample) -> Row:
    """An answer SMS: the SMS rules, and one segment (it is read by a worried patient)."""
    row = Row(key, lang, "sms")
    if missing(row, renderer.directory, [f"sms/{lang}/{key}.txt"]):
        return row
    senders = [(sample.clinic_name, ""), (sample.clinic_name, sample.clinic_phone)]
    if key == HELP_TEMPLATE:
        senders.append(("", ""))  # a number of no clinic's patient
    try:
        texts = [(n, renderer.sms(key, lang, ack_context(n, phone))) for n, phone in senders]
    except TemplateError as exc:
        return failed(row, exc)
    for name, text in texts:
        problems = sms_problems(text, lang, name, REPLIES[key])
        size = sms_size(text)
        if size.segments > 1:
            problems.append(f"{size.segments} segments ({size.units} units); an answer fits one")
        row.problems += [p for p in problems if p not in row.problems]
        row.encoding, row.size = size.encoding, f"{size.segments} ({size.units} units)"
    return row


def lint_page(renderer: Renderer, key: str, lang: str, sample: Sample) -> Row:
    """A page a patient opens from an email: renders, names the clinic, asks before acting."""
    row = Row(key, lang, "page", encoding="UTF-8")
    if missing(row, renderer.directory, [f"page/{lang}/{key}.html"]):
        return row
    try:
        html = renderer.page(key, lang, {"clinic_name": sample.clinic_name})
    except TemplateError as exc:
        return failed(row, exc)
    row.size = f"{len(html)} chars"
    if sample.clinic_name not in html:
        row.problems.append("the clinic's name is missing")
    if key.endswith("_confirm") and 'method="post"' not in html:
        row.problems.append('no <form method="post">: following a link alone must change nothing')
    return row


def lint_clinic_email(renderer: Renderer, key: str, lang: str, sample: Sample) -> Row:
    """The alert to clinic staff: renders, and says who wrote, their number and their words."""
    row = Row(key, lang, "clinic email", encoding="UTF-8")
    paths = [f"clinic_email/{lang}/{key}.{ext}" for ext in ("subject.txt", "txt")]
    if missing(row, renderer.directory, paths):
        return row
    context = sample_alert(sample)
    try:
        email = renderer.clinic_email(key, lang, context)
    except TemplateError as exc:
        return failed(row, exc)
    row.size = f"{len(email.text)} chars"
    if not email.subject:
        row.problems.append("the subject is empty")
    needed = {"the patient's id": "external_id", "their phone": "phone", "their message": "body"}
    for what, name in needed.items():
        if context[name] not in email.text:
            row.problems.append(f"{what} is missing from the text")
    return row


def sample_alert(sample: Sample) -> dict[str, Any]:
    """An alert's context for a reply naming every warning sign, built as the service does."""
    phone, at = "+14155550199", datetime(2026, 11, 21, 22, 14, tzinfo=UTC)
    patient = Patient(clinic_id="lint", external_id="p-8841", first_name=sample.first_name,
                      phone=phone)  # fmt: skip
    reply = InboundReply(from_number=phone, body="It hurts and I think it is infected",
                         kind=WARNING, received_at=at)  # fmt: skip
    return alert_context(patient, reply, tuple(SIGNS))


def missing(row: Row, directory: Path, paths: list[str]) -> bool:
    """Whether any of the template files is missing (then named in the row's problems)."""
    absent = [path for path in paths if not (directory / path).is_file()]
    if absent:
        row.problems.append("missing " + ", ".join(absent))
    return bool(absent)


def failed(row: Row, exc: TemplateError) -> Row:
    """The row of a template that does not render."""
    row.problems.append(f"does not render: {type(exc).__name__}: {exc}")
    return row
