"""Load and validate aftercare protocols (TOML data files) into typed steps."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, replace
from datetime import time
from pathlib import Path
from typing import Any

from reminders.planning.claims import Claim, ClaimError, parse_claims

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "protocols"
CHANNELS = ("sms", "email")
ANCHORS = ("treatment_end", "next_session")
CONDITIONS = (
    "always",
    "sessions_remaining_unbooked",
    "next_session_booked",
    "last_session",
)
# Fields a step may carry, and the ones a clinic may override.
# `not_before_hours` and `priority` are not overridable: they follow from the templates' wording.
STEP_FIELDS = (
    "key", "anchor", "channels", "days", "at", "hours", "valid_hours", "when",
    "not_before_hours", "priority",
)  # fmt: skip
DEFAULT_PRIORITY = 5


class ProtocolError(ValueError):
    """A protocol file is invalid; the message names the file, the step and the field."""

    def __init__(self, source: str, step: str, field: str, problem: str) -> None:
        super().__init__(f"{source}: step {step!r}, field {field!r}: {problem}")
        self.source, self.step, self.field, self.problem = source, step, field, problem


@dataclass(frozen=True)
class Step:
    """One prompt: when it is due (relative to its anchor), where, and how long it stays valid."""

    key: str
    channels: tuple[str, ...]
    valid_hours: float
    days: int = 0
    at: time | None = None
    hours: float = 0.0
    when: str = "always"
    anchor: str = "treatment_end"
    enabled: bool = True
    # Earliest elapsed time since the treatment ended at which its wording is true.
    not_before_hours: float = 0.0
    # Lower goes first when the SMS caps leave fewer texts than steps.
    priority: int = DEFAULT_PRIORITY


@dataclass(frozen=True)
class Protocol:
    """A named, versioned list of steps."""

    name: str
    version: str
    steps: tuple[Step, ...]
    claims: tuple[Claim, ...] = ()
    # Set when a clinic's overrides were applied, so messages say which variant they came from.
    overrides_digest: str = ""

    @property
    def label(self) -> str:
        """What each message records as its protocol version, e.g. 'microneedling@2026.11.1'."""
        suffix = f"+{self.overrides_digest}" if self.overrides_digest else ""
        return f"{self.name}@{self.version}{suffix}"

    def step(self, key: str) -> Step:
        """The step with this key."""
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)


@functools.cache
def load_protocol(name: str = "microneedling", directory: Path = PROTOCOL_DIR) -> Protocol:
    """Read and validate protocols/<name>.toml (once per process: protocols are immutable)."""
    path = directory / f"{name}.toml"
    if not name.isidentifier() or not path.is_file():
        raise ProtocolError(str(path), "-", "name", f"no protocol file named {name!r}")
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ProtocolError(path.name, "-", "-", f"not valid TOML: {exc}") from None
    return parse_protocol(data, source=path.name)


def parse_protocol(data: dict[str, Any], source: str = "<protocol>") -> Protocol:
    """Validate a protocol document already read into plain values."""
    for field in ("name", "version"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ProtocolError(source, "-", field, "required, a non-empty string")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ProtocolError(source, "-", "steps", "required, a non-empty list of [[steps]]")
    steps = tuple(parse_step(raw, source, index) for index, raw in enumerate(raw_steps))
    seen: set[str] = set()
    for step in steps:
        if step.key in seen:
            raise ProtocolError(source, step.key, "key", "used by more than one step")
        seen.add(step.key)
    try:
        claims = parse_claims(data.get("claims"))
    except ClaimError as exc:
        raise ProtocolError(source, f"claims.{exc.claim}", exc.field, exc.problem) from None
    return Protocol(name=data["name"], version=data["version"], steps=steps, claims=claims)


def parse_step(raw: Any, source: str, index: int) -> Step:
    """Validate one [[steps]] table."""
    if not isinstance(raw, dict):
        raise ProtocolError(source, f"#{index + 1}", "-", "each step must be a table")
    key = raw.get("key")
    if not isinstance(key, str) or not key.isidentifier():
        raise ProtocolError(source, f"#{index + 1}", "key", "required, letters/digits/_ only")
    for field in raw:
        if field not in STEP_FIELDS:
            raise ProtocolError(source, key, field, f"unknown field; expected one of {STEP_FIELDS}")
    if "valid_hours" not in raw:
        raise ProtocolError(source, key, "valid_hours", "required: how long the prompt is useful")
    anchor = raw.get("anchor", "treatment_end")
    if anchor not in ANCHORS:
        raise ProtocolError(source, key, "anchor", f"one of {ANCHORS}")
    when = raw.get("when", "always")
    if when not in CONDITIONS:
        raise ProtocolError(source, key, "when", f"one of {CONDITIONS}")
    if anchor == "next_session" and when not in ("always", "next_session_booked"):
        raise ProtocolError(source, key, "when", "a next_session step needs a booked session")
    priority = raw.get("priority", DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 9:
        raise ProtocolError(source, key, "priority", "a whole number from 1 (first) to 9")
    step = Step(
        key=key,
        channels=channels_of(raw.get("channels"), source, key),
        valid_hours=0.0,
        anchor=anchor,
        when="next_session_booked" if anchor == "next_session" else when,
        not_before_hours=_number(raw, "not_before_hours", source, key, 0.0),
        priority=priority,
    )
    return retimed(step, raw, source)


def retimed(step: Step, raw: dict[str, Any], source: str) -> Step:
    """A copy of `step` with the timing and validity fields present in `raw`, validated."""
    key, signed = step.key, step.anchor == "next_session"
    days = int(_number(raw, "days", source, key, step.days, integer=True, signed=signed))
    # Retiming to a local time of day replaces "hours after", and the other way round.
    hours = _number(raw, "hours", source, key, 0.0 if "at" in raw else step.hours, signed=signed)
    at = _time_of_day(raw["at"], source, key) if "at" in raw else step.at
    if "hours" in raw and "at" not in raw:
        at = None
    if at is not None and hours:
        raise ProtocolError(source, key, "hours", "give either days + at, or hours, not both")
    valid = _number(raw, "valid_hours", source, key, step.valid_hours)
    if valid <= 0:
        raise ProtocolError(source, key, "valid_hours", "must be greater than 0")
    return replace(step, valid_hours=valid, days=days, at=at, hours=hours)


def channels_of(value: Any, source: str, key: str) -> tuple[str, ...]:
    """A non-empty list of distinct known channels."""
    if (
        not isinstance(value, list)
        or not value
        or any(channel not in CHANNELS for channel in value)
        or len(set(value)) != len(value)
    ):
        raise ProtocolError(source, key, "channels", f"a non-empty list drawn from {CHANNELS}")
    return tuple(value)


def _number(
    raw: dict[str, Any],
    field: str,
    source: str,
    key: str,
    default: float,
    integer: bool = False,
    signed: bool = False,
) -> float:
    value = raw.get(field, default)
    allowed = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed) or (value < 0 and not signed):
        kind = "a whole number" if integer else "a number"
        rule = "" if signed else " >= 0 (only next_session steps count backwards)"
        raise ProtocolError(source, key, field, f"must be {kind}{rule}")
    if abs(value) > 3660:
        raise ProtocolError(source, key, field, "out of range (more than ten years)")
    return float(value)


def _time_of_day(value: Any, source: str, key: str) -> time:
    try:
        parsed = time.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        raise ProtocolError(source, key, "at", "a local time of day like '10:00'")
    return parsed
