"""The SMS answer to HELP: who is texting, how to reach them and how to stop (templates)."""

from __future__ import annotations

from dataclasses import dataclass

from reminders.delivery.rendering import Renderer
from reminders.inbound.acknowledgement import ack_context
from reminders.intake.fields import phone_for_reader
from reminders.models import Clinic

TEMPLATE = "help"


@dataclass(frozen=True)
class HelpRequest:
    """What the answer needs: the clinic's name and phone ("" for an unknown number), a language."""

    clinic_name: str
    clinic_phone: str
    locale: str


def help_request(clinic: Clinic | None, locale: str, reader: str = "") -> HelpRequest:
    """The answer's facts for a patient of `clinic`, or for a number we do not know; the
    clinic's phone as `reader` (the asking number) dials it."""
    if clinic is None:
        return HelpRequest("", "", locale)
    return HelpRequest(clinic.name, phone_for_reader(clinic.phone, reader), locale)


def help_text(renderer: Renderer, request: HelpRequest) -> str:
    """The answer's text (sms/<lang>/help.txt); it reads the same variables as warning_ack."""
    context = ack_context(request.clinic_name, request.clinic_phone)
    return renderer.sms(TEMPLATE, request.locale, context)
