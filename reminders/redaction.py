"""Mask phone numbers and email addresses inside free text (provider errors, reasons)."""

from __future__ import annotations

import re

from reminders.masking import mask_address

# A provider's error text may quote the recipient ("The 'To' number +15551234567 is not...").
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")
# Not phone numbers: SMTP replies ("550 5.1.1", six digits) and timestamps stay readable.
MIN_PHONE_DIGITS = 7
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def redact(text: str | None) -> str | None:
    """The text with every email address and phone-like number masked; None stays None."""
    if text is None:
        return None
    text = EMAIL.sub(lambda m: mask_address(m.group(0)), text)
    return PHONE.sub(_masked_phone, text)


def _masked_phone(found: re.Match[str]) -> str:
    digits = re.sub(r"[^\d+]", "", found.group(0))
    if len(digits.lstrip("+")) < MIN_PHONE_DIGITS or DATE.match(found.group(0)):
        return found.group(0)
    return mask_address(digits)
