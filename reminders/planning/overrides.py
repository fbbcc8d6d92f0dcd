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


def merged_overrides(current: Any, change: Any) -> Any:
    """`change` laid over `current` step by step and field by field; null removes.

    {"steps": {"day_1": null}} removes day_1's overrides, {"steps": {"day_1": {"at": null}}}
    only its time, {"steps": null} all of them. Anything not a table is returned as given, for
    validate_overrides to name.
    """
    if not isinstance(change, dict) or not isinstance(current, dict) or not current:
        return _without_nulls(change)
    if "steps" in change and change["steps"] is None:
        return {}
    old, new = current.get("steps", {}), change.get("steps", {})
    if not isinstance(old, dict) or not isinstance(new, dict):
        return _without_nulls(change)
    steps = {key: dict(value) for key, value in old.items() if isinstance(value, dict)}
    for key, fields in new.items():
        if fields is None:
            steps.pop(key, None)
        elif isinstance(fields, dict):
            steps[key] = {**steps.get(key, {}), **fields}
        else:
            steps[key] = fields  # not a table: refused by validation, naming the step
    return _without_nulls({**change, "steps": steps})


def _without_nulls(overrides: Any) -> Any:
    if not isinstance(overrides, dict) or not isinstance(overrides.get("steps"), dict):
        cleared = isinstance(overrides, dict) and "steps" in overrides and not overrides["steps"]
        return {} if cleared else overrides
    steps = {}
    for key, fields in overrides["steps"].items():
        if isinstance(fields, dict) and fields:
            fields = {name: value for name, value in fields.items() if value is not None}
            if not fields:
                continue  # every override of the step removed (an empty table is refused)
        if fields is not None:
            steps[key] = fields
    return {**overrides, "steps": steps} if steps else {}
