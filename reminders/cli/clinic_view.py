"""What `reminders clinics list` shows of a clinic, and `--remove-override` as overrides."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from reminders.channels.senders import UNCONFIGURED, own_key
from reminders.intake.clinics import ClinicError
from reminders.models import Clinic

# Never shown by `clinics list`: a secret is printed once, when it is made.
SECRETS = ("webhook_secret", "previous_webhook_secret", "events_secret", "twilio_auth_token")


def clinic_settings(clinic: Clinic, platform_key: str) -> dict[str, Any]:
    """Every setting of a clinic as plain JSON values, secrets left out."""
    found = clinic.model_dump(exclude=set(SECRETS) | {"window_start", "window_end"})
    found["window"] = f"{clinic.window_start:%H:%M}-{clinic.window_end:%H:%M}"
    found["sms_sender"] = sender_text(clinic, platform_key)
    for name, value in found.items():
        if isinstance(value, datetime):
            found[name] = value.isoformat()
    return found


def sender_text(clinic: Clinic, platform_key: str) -> str:
    """Which sender the clinic uses, for `clinics list` (never the token)."""
    if not own_key(clinic):
        shown = "console: Twilio not set up" if platform_key == UNCONFIGURED else platform_key
        return f"platform ({shown})"
    account = f", account {clinic.twilio_account_sid}" if clinic.twilio_account_sid else ""
    return own_key(clinic) + account


def removal(given: str | None, steps: list[str]) -> str:
    """--protocol-overrides with each of `steps` set to null (removed), as JSON."""
    if given and given.startswith("@"):
        given = Path(given[1:]).read_text(encoding="utf-8")
    try:
        data = json.loads(given) if given else {}
    except json.JSONDecodeError as exc:
        raise ClinicError(f"protocol_overrides: not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps", {}), dict):
        raise ClinicError('protocol_overrides: expected {"steps": {"<step key>": {...}}}')
    data.setdefault("steps", {}).update(dict.fromkeys(steps))
    return json.dumps(data)
