"""A clinic's changes to a protocol's steps: disable, retime, change validity or channels."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from reminders.planning.protocol import Protocol, ProtocolError, Step, channels_of, retimed

OVERRIDE_FIELDS = ("enabled", "days", "at", "hours", "valid_hours", "channels")


def apply_overrides(protocol: Protocol, overrides: Any, source: str = "overrides") -> Protocol:
    """The protocol with a clinic's step overrides applied; ProtocolError names what is wrong.

    Shape: {"steps": {"day_3": {"at": "09:00"}, "day_7": {"enabled": false}}}.
    """
    if not overrides:
        return protocol
    if protocol.overrides_digest:
        return protocol  # already applied: overrides are absolute values, not increments
    if not isinstance(overrides, dict) or set(overrides) - {"steps"}:
        raise ProtocolError(source, "-", "-", 'expected {"steps": {"<step key>": {...}}}')
    changes = overrides.get("steps", {})
    if not isinstance(changes, dict):
        raise ProtocolError(source, "-", "steps", "a table of step key -> changes")
    known = {step.key for step in protocol.steps}
    for key in changes:
        if key not in known:
            raise ProtocolError(source, str(key), "key", f"no such step in {protocol.label}")
    steps = tuple(
        overridden(step, changes[step.key], source) if step.key in changes else step
        for step in protocol.steps
    )
    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
    return replace(protocol, steps=steps, overrides_digest=digest)


def overridden(step: Step, raw: Any, source: str) -> Step:
    """One step with a clinic's changes, validated like the protocol file itself."""
    if not isinstance(raw, dict) or not raw:
        raise ProtocolError(source, step.key, "-", f"a non-empty table of {OVERRIDE_FIELDS}")
    for field in raw:
        if field not in OVERRIDE_FIELDS:
            raise ProtocolError(
                source, step.key, field, f"cannot be overridden; allowed: {OVERRIDE_FIELDS}"
            )
    enabled = raw.get("enabled", step.enabled)
    if not isinstance(enabled, bool):
        raise ProtocolError(source, step.key, "enabled", "must be true or false")
    channels = channels_of(raw["channels"], source, step.key) if "channels" in raw else None
    step = retimed(step, raw, source)
    return replace(step, enabled=enabled, channels=channels or step.channels)


def validate_overrides(protocol: Protocol, overrides: Any, source: str = "overrides") -> None:
    """Raise ProtocolError when overrides do not fit the protocol (call before saving)."""
    apply_overrides(protocol, overrides, source)
