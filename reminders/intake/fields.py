"""Field checks shared by the webhook and the CSV import: a clean value or a problem."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email

SUPPORTED_LOCALES = ("en", "es")
AREAS = ("face", "neck", "chest", "hands", "scalp", "body")
MAX_SESSIONS = 12
NEEDLE_DEPTH_MM = (0.1, 3.0)


class Problems:
    """Collects every {field, problem} pair of one request, so a 422 can list them all."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, problem: str) -> None:
        """Record one problem."""
        self.items.append({"field": field, "problem": problem})

    def __bool__(self) -> bool:
        return bool(self.items)


def text(value: Any, field: str, problems: Problems, max_length: int, required: bool) -> str | None:
    """A non-empty string of at most max_length characters, stripped."""
    if value is None or value == "":
        if required:
            problems.add(field, "required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(field, "must be a non-empty string")
        return None
    if len(value.strip()) > max_length:
        problems.add(field, f"must be at most {max_length} characters")
        return None
    if "\x00" in value:  # PostgreSQL cannot store it: refuse with a 422, not a 500
        problems.add(field, "must not contain NUL characters")
        return None
    return value.strip()


def phone(value: Any, field: str, problems: Problems, region: str) -> str | None:
    """A phone number in E.164; national numbers are read in the clinic's region."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.add(field, "must be a string")
        return None
    try:
        number = phonenumbers.parse(value, region or None)
    except phonenumbers.NumberParseException:
        problems.add(field, f"not a phone number (national numbers are read as {region})")
        return None
    if not phonenumbers.is_valid_number(number):
        problems.add(field, "not a valid phone number")
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(value: Any, field: str, problems: Problems) -> str | None:
    """A deliverable-looking address, normalized; no DNS lookups."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.add(field, "must be a string")
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        problems.add(field, f"not a valid email address: {exc}")
        return None


def timezone(value: Any, field: str, problems: Problems, required: bool) -> str | None:
    """An IANA time zone name such as 'Europe/Madrid'."""
    if value is None or value == "":
        if required:
            problems.add(field, "required, an IANA time zone such as 'Europe/Madrid'")
        return None
    if not isinstance(value, str) or value not in _zones():
        problems.add(field, "not an IANA time zone name (e.g. 'America/New_York')")
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(field, "not an IANA time zone name (e.g. 'America/New_York')")
        return None
    return value


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


_ZONES: set[str] | None = None


def moment(value: Any, field: str, problems: Problems, required: bool) -> datetime | None:
    """An ISO 8601 date-time that carries its UTC offset."""
    if value is None or value == "":
        if required:
            problems.add(field, "required, an ISO 8601 date-time with offset")
        return None
    if not isinstance(value, str):
        problems.add(field, "must be an ISO 8601 string")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.add(field, "not an ISO 8601 date-time (e.g. 2025-05-01T15:30:00+02:00)")
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        problems.add(field, "needs a UTC offset (e.g. +02:00 or Z); local times are ambiguous")
        return None
    return parsed


def locale(value: Any, field: str, problems: Problems, default: str) -> str:
    """A supported language: 'es', 'es-MX' and 'es_MX' all mean Spanish."""
    if value is None or value == "":
        return default
    language = str(value).replace("_", "-").split("-")[0].lower()
    if language not in SUPPORTED_LOCALES:
        problems.add(field, f"one of {', '.join(SUPPORTED_LOCALES)} (region suffixes allowed)")
        return default
    return language


def choice(
    value: Any, field: str, problems: Problems, allowed: tuple[str, ...], default: str
) -> str:
    """One of a fixed set of strings."""
    if value is None or value == "":
        return default
    if value not in allowed:
        problems.add(field, f"one of {', '.join(allowed)}")
        return default
    return str(value)


def flag(value: Any, field: str, problems: Problems) -> bool | None:
    """A JSON boolean (or, from CSV, true/false/yes/no/1/0)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "y"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "n"):
        return False
    problems.add(field, "must be true or false")
    return None


def whole(value: Any, field: str, problems: Problems, low: int, high: int) -> int | None:
    """A whole number within [low, high]."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(field, f"a whole number from {low} to {high}")
        return None
    return value


def depth(value: Any, field: str, problems: Problems) -> float | None:
    """A needle depth in millimetres within the range microneedling uses."""
    if value is None or value == "":
        return None
    low, high = NEEDLE_DEPTH_MM
    try:
        number = float(value) if isinstance(value, (str, int, float)) else None
    except ValueError:
        number = None
    if isinstance(value, bool) or number is None or not low <= number <= high:
        problems.add(field, f"a depth in mm from {low} to {high}")
        return None
    return number


def no_extra_keys(
    data: dict[str, Any], allowed: tuple[str, ...], prefix: str, problems: Problems
) -> None:
    """Name fields we do not know, so a typo ('phone_number') is not silently ignored."""
    for key in data:
        if key not in allowed:
            problems.add(prefix + str(key), f"unknown field; expected one of {', '.join(allowed)}")
