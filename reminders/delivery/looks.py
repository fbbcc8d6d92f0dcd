"""PURE: a clinic's look: its template overrides and email branding, validated and stamped."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Patient messages the worker renders; answers, pages and staff alerts are not overridable yet.
OVERRIDABLE_KINDS = ("sms", "email")
NOT_OVERRIDABLE = ("help.txt", "warning_ack.txt")  # answered by the API from shipped wording
MAX_BODY = 20000
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# The shipped layout's look, used for every value a clinic has not set.
DEFAULT_COLOUR = "#2f5d62"
DEFAULT_BACKGROUND = "#f6f4f1"


class LookError(ValueError):
    """A template name or a branding value is refused; the message names the field and rule."""


@dataclass(frozen=True)
class Branding:
    """What a clinic's email layout shows: name, logo, heading colour, background, footer."""

    display_name: str = ""
    logo_url: str = ""
    colour: str = ""
    background: str = ""
    footer: str = ""
    version: int = 0

    def context(self, clinic_name: str) -> dict[str, str]:
        """The `branding` template variable, with the shipped look for unset values."""
        return {
            "name": self.display_name or clinic_name,
            "logo_url": self.logo_url,
            "colour": self.colour or DEFAULT_COLOUR,
            "background": self.background or DEFAULT_BACKGROUND,
            "footer": self.footer,
        }


@dataclass(frozen=True)
class Look:
    """A clinic's overrides in force: template name -> (version, body), and its branding."""

    clinic_id: str
    templates: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    branding: Branding = field(default_factory=Branding)

    @property
    def bodies(self) -> dict[str, str]:
        """Template name -> body, for a jinja DictLoader."""
        return {name: body for name, (_version, body) in self.templates.items()}

    def stamp(self, used: list[str], shipped: str) -> str:
        """What a message rendered from `used` names came from: the shipped set, or overrides."""
        parts = [f"{name}@v{self.templates[name][0]}" for name in used if name in self.templates]
        if self.branding.version and any(name.startswith("email/") for name in used):
            parts.append(f"branding@v{self.branding.version}")
        if not parts:
            return shipped
        return f"clinic:{self.clinic_id} {','.join(parts)}"[:300]


def check_name(directory: Path, name: str) -> str:
    """A name a clinic may override: a shipped sms/ or email/ file, e.g. sms/en/day_1.txt."""
    clean = name.strip()
    parts = clean.split("/")
    if parts[0] not in OVERRIDABLE_KINDS or ".." in parts or clean.startswith("/"):
        raise LookError(
            f"template {name!r}: only sms/... and email/... templates can be overridden"
        )
    if parts[-1] in NOT_OVERRIDABLE:
        raise LookError(f"template {name!r}: answers to texts use the shipped wording for now")
    if not (directory / clean).is_file():
        raise LookError(f"template {name!r}: no such shipped template (see `templates list`)")
    return clean


def check_body(name: str, body: str) -> str:
    """A template text: not empty, not huge."""
    if not body.strip():
        raise LookError(f"template {name!r}: the text is empty")
    if len(body) > MAX_BODY:
        raise LookError(f"template {name!r}: {len(body)} characters; at most {MAX_BODY}")
    return body


def check_branding(values: Mapping[str, Any]) -> dict[str, str]:
    """Branding values as given (None = unchanged), each checked: https logo, #rrggbb colours."""
    checked: dict[str, str] = {}
    limits = {"display_name": 200, "logo_url": 500, "footer": 500}
    for key, value in values.items():
        if value is None:
            continue
        text = str(value).strip()
        if key in ("colour", "background"):
            if text and not COLOUR.fullmatch(text):
                raise LookError(f"{key}: {text!r} is not a colour like #2f5d62")
        elif key == "logo_url":
            url = urlsplit(text)
            if text and (
                url.scheme != "https" or not url.netloc or any(c in text for c in "\"' <>")
            ):
                raise LookError(f"logo_url: {text!r} is not an https:// URL")
        elif key not in limits:
            raise LookError(f"{key}: unknown branding field")
        if len(text) > limits.get(key, 7):
            raise LookError(f"{key}: {len(text)} characters; at most {limits[key]}")
        checked[key] = text
    return checked
