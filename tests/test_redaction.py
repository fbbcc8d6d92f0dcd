"""Provider error texts reach operators with contact details masked."""

from __future__ import annotations

from reminders.redaction import redact


def test_phone_numbers_and_emails_inside_error_text_are_masked() -> None:
    text = "The 'To' number +15551234567 is not valid; bounce from ana.lopez@example.com"
    assert redact(text) == "The 'To' number +1•••••••567 is not valid; bounce from a•••@example.com"


def test_formatted_numbers_are_masked_and_error_codes_are_kept() -> None:
    assert redact("call +1 (555) 123-4567 now, code 21610") == "call +1•••••••567 now, code 21610"
    assert redact(None) is None
