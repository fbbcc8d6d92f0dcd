"""Mask phone numbers and email addresses inside free text (provider errors, reasons)."""

from __future__ import annotations

import re

from reminders.masking import mask_address

# A provider's error text may quote the recipient ("The 'To' number +15551234567 is not...").
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")


def redact(text: str | None) -> str | None:
    """The text with every email address and phone-like number masked; None stays None."""
    if text is None:
        return None
    text = EMAIL.sub(lambda m: mask_address(m.group(0)), text)
    return PHONE.sub(lambda m: mask_address(re.sub(r"[^\d+]", "", m.group(0))), text)
