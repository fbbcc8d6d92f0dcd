"""Field types shared by clinic events, CSV rows and clinic settings: each rule lives here once."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from functools import cache
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

Locale = Literal["en", "es"]
Area = Literal["face", "neck", "chest", "hands", "scalp", "body"]
SUPPORTED_LOCALES: tuple[str, ...] = get_args(Locale)
AREAS: tuple[str, ...] = get_args(Area)
MAX_SESSIONS = 12
NEEDLE_DEPTH_MM = (0.1, 3.0)


@cache
def zones() -> frozenset[str]:
    """IANA zone names; read on first use, as importing does no I/O."""
    return frozenset(available_timezones() | {"UTC"})


class Model(BaseModel):
    """Unknown fields are refused (a typo is not silently ignored); a blank is the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_default(cls, data: Any) -> Any:
        # CSV cells and some clinic systems send "" for none; it still counts as given.
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: fields[key].get_default(call_default_factory=True)
            if value == "" and key in fields and not fields[key].is_required()
            else value
            for key, value in data.items()
        }


def rule(check: Callable[[Any], bool], kind: str, problem: str) -> AfterValidator:
    """A validator refusing values for which `check` is false, with `problem` as the message."""

    def validate(value: Any) -> Any:
        if not check(value):
            raise PydanticCustomError(kind, problem)
        return value

    return AfterValidator(validate)


# PostgreSQL cannot store NUL: refuse it with a 422, not a 500.
NO_NUL = rule(lambda value: "\x00" not in value, "nul", "must not contain NUL characters")
ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), NO_NUL
]
FirstName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NO_NUL
]


def e164(number: str, region: str | None) -> str:
    """The number in E.164, national numbers read in `region`; ValueError names what is wrong."""
    try:
        parsed = phonenumbers.parse(number, region or None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"not a phone number (national numbers are read as {region})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_for_reader(number: str, reader: str | None) -> str:
    """`number` as its reader dials it: national format from the same country, else
    international; what cannot be parsed is shown as stored."""
    if not number:
        return number
    formats = phonenumbers.PhoneNumberFormat
    try:
        parsed = phonenumbers.parse(number, None)
        home = phonenumbers.parse(reader, None).country_code if reader else None
    except phonenumbers.NumberParseException:
        return number
    shown = formats.NATIONAL if home == parsed.country_code else formats.INTERNATIONAL
    return phonenumbers.format_number(parsed, shown)


def _phone(value: str, info: ValidationInfo) -> str:
    # A region set in the same settings change applies; else the clinic's (the context).
    region = (info.data or {}).get("default_region") or (info.context or {}).get("region")
    try:
        return e164(value, region)
    except ValueError as exc:
        raise PydanticCustomError("phone", str(exc)) from None


def _email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email", "not a valid email address: {why}", {"why": str(exc)}
        ) from None


def _language(value: Any) -> Any:
    """'es', 'es-MX' and 'es_MX' all mean Spanish."""
    return value.replace("_", "-").split("-")[0].lower() if isinstance(value, str) else value


def _iso_only(value: Any) -> Any:
    if isinstance(value, (str, datetime)):
        return value
    raise PydanticCustomError("datetime_type", "must be an ISO 8601 string")


def _window(value: Any) -> Any:
    """'08:00-20:00' as two times; whether they can work is the planner's rule (ClinicPolicy)."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(value).split("-"))
    except ValueError:
        raise PydanticCustomError("window", "local hours like '08:00-20:00'") from None
    return start, end


Phone = Annotated[
    str,
    AfterValidator(_phone),
    WithJsonSchema({"type": "string", "description": "E.164, or national in the clinic's region"}),
]
Email = Annotated[
    str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})
]
Timezone = Annotated[
    str,
    rule(
        lambda zone: zone in zones(),
        "timezone",
        "not an IANA time zone name (e.g. 'Europe/Madrid')",
    ),
    Field(examples=["Europe/Madrid"]),
]
Language = Annotated[Locale, BeforeValidator(_language), Field(description="es-MX is read as es")]
# How far from the moment it is received a date can plausibly be: a treatment a year old or
# a booking a year ahead is a typo (2052 for 2025) or a test, not a course to plan.
PLAUSIBLE = timedelta(days=365)


def _plausible(at: datetime, info: ValidationInfo) -> datetime:
    now = (info.context or {}).get("now")
    if now is not None and not now - PLAUSIBLE <= at <= now + PLAUSIBLE:
        raise PydanticCustomError(
            "plausible",
            "a date within a year of now (from {low} to {high})",
            {
                "low": (now - PLAUSIBLE).date().isoformat(),
                "high": (now + PLAUSIBLE).date().isoformat(),
            },
        )
    return at


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_only),
    # Also keeps converting to UTC or adding days from overflowing (a 500, not a 422).
    rule(lambda at: 2000 <= at.year <= 2100, "plausible", "a date between 2000 and 2100"),
    AfterValidator(_plausible),
    Field(examples=["2025-05-01T15:30:00+02:00"]),
]
Sessions = Annotated[int, Field(ge=1, le=MAX_SESSIONS)]
NeedleDepth = Annotated[float, Field(ge=NEEDLE_DEPTH_MM[0], le=NEEDLE_DEPTH_MM[1])]
Region = Annotated[
    str,
    AfterValidator(str.upper),
    rule(lambda code: code in phonenumbers.SUPPORTED_REGIONS, "region", "a region code like ES"),
]
Window = Annotated[tuple[time, time], BeforeValidator(_window)]
Url = Annotated[
    str, rule(lambda url: bool(re.match(r"^https?://[^\s/]+", url)), "url", "an http(s) URL")
]
# Twilio's identifiers: a Messaging Service SID and an account (or subaccount) SID.
ServiceSid = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    rule(lambda sid: bool(re.fullmatch(r"MG[0-9a-fA-F]{32}", sid)), "sid", "MG and 32 hex digits"),
]
AccountSid = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    rule(lambda sid: bool(re.fullmatch(r"AC[0-9a-fA-F]{32}", sid)), "sid", "AC and 32 hex digits"),
]
AuthToken = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=16, max_length=200), NO_NUL
]

# Our wording where pydantic's is less clear about the rule.
RULES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "union_tag_not_found": "required",
    "timezone_aware": "needs a UTC offset (e.g. +02:00 or Z); local times are ambiguous",
    "datetime_from_date_parsing": "not an ISO 8601 date-time (e.g. 2025-05-01T15:30:00+02:00)",
    "datetime_parsing": "not an ISO 8601 date-time (e.g. 2025-05-01T15:30:00+02:00)",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}


def problems(
    error: ValidationError, skip: Callable[[Any], bool] = lambda part: False
) -> list[dict[str, str]]:
    """Every problem as {field: dotted path, problem: the rule}; `skip` drops path parts."""
    return [
        {"field": _path(found, skip), "problem": _rule(found)}
        for found in error.errors(include_url=False)
    ]


def _path(found: ErrorDetails, skip: Callable[[Any], bool]) -> str:
    path = ".".join(str(part) for part in found["loc"] if not skip(part))
    return path or ("type" if found["type"].startswith("union_tag") else "body")


def _rule(found: ErrorDetails) -> str:
    if found["input"] is None or found["input"] == "":
        return "required"
    return RULES.get(found["type"], found["msg"])


# Row ids are PostgreSQL `integer`s: anything larger names no row (and would not bind).
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int | None:
    """The row id a path or query value names, or None if it cannot name one."""
    # isdigit() alone passes Unicode digits ('²', which int() refuses) and 5,000-digit ids.
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ROW_ID))):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def endpoint_problem(url: str, allow_local_http: bool) -> str | None:
    """Why `url` cannot receive a clinic's signed events (the rule), or None if it can."""
    parts = urlsplit(url.strip())
    if not re.fullmatch(r"[^\s]{1,500}", url.strip()) or not parts.hostname:
        return "an https:// URL of at most 500 characters, without spaces"
    if parts.username or parts.password:
        return "no user or password in the URL: the signature tells the clinic it is us"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        if allow_local_http:
            return None
        return "https only; plain http to this machine needs REMINDERS_EVENTS_ALLOW_LOCAL_HTTP"
    return "https only (events carry patients' replies)"
