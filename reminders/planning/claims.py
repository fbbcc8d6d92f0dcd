"""PURE: what a message's wording claims, and when each claim becomes true."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Template variables a claim may depend on (computed at send time by composition.py).
FLAGS = ("on_treatment_day", "session_tomorrow")


class ClaimError(ValueError):
    """A [claims] table is invalid; the protocol loader names the file around it."""

    def __init__(self, claim: str, field: str, problem: str) -> None:
        super().__init__(f"claim {claim!r}, field {field!r}: {problem}")
        self.claim, self.field, self.problem = claim, field, problem


@dataclass(frozen=True)
class Claim:
    """Phrases that say something true only from `not_before_hours` after the treatment ended,
    or only while the template flag `only_when` is true."""

    key: str
    phrases: tuple[str, ...]
    not_before_hours: float = 0.0
    only_when: str = ""

    def said_in(self, text: str) -> bool:
        """Whether the text (any case) uses one of the claim's phrases."""
        lowered = " ".join(text.lower().split())
        return any(phrase in lowered for phrase in self.phrases)


def parse_claims(raw: Any) -> tuple[Claim, ...]:
    """Validate a protocol's [claims.<key>] tables."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ClaimError("-", "claims", "a table of [claims.<key>] tables")
    return tuple(parse_claim(key, value) for key, value in raw.items())


def parse_claim(key: str, raw: Any) -> Claim:
    """One [claims.<key>] table: phrases plus not_before_hours or only_when."""
    if not isinstance(raw, dict):
        raise ClaimError(key, "-", "must be a table")
    unknown = set(raw) - {"phrases", "not_before_hours", "only_when"}
    if unknown:
        raise ClaimError(key, sorted(unknown)[0], "unknown field")
    phrases = raw.get("phrases")
    if (
        not isinstance(phrases, list)
        or not phrases
        or not all(isinstance(p, str) and p.strip() and p == p.lower() for p in phrases)
    ):
        raise ClaimError(key, "phrases", "a non-empty list of lowercase phrases")
    hours = raw.get("not_before_hours", 0)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
        raise ClaimError(key, "not_before_hours", "a number of hours >= 0")
    only_when = raw.get("only_when", "")
    if only_when not in ("", *FLAGS):
        raise ClaimError(key, "only_when", f"one of {FLAGS}")
    if bool(hours) == bool(only_when):
        raise ClaimError(key, "not_before_hours", "give either not_before_hours or only_when")
    normal = tuple(" ".join(p.split()) for p in phrases)
    return Claim(key, normal, float(hours), only_when)


def claim_problems(
    claims: Sequence[Claim],
    step: str,
    not_before_hours: float,
    text: str,
    flags: Mapping[str, bool],
) -> list[str]:
    """What a step's rendered text claims that is not true when it can arrive."""
    problems = []
    for claim in claims:
        if not claim.said_in(text):
            continue
        if claim.not_before_hours > not_before_hours:
            problems.append(
                f"says {claim.key!r} (true from {claim.not_before_hours:g} h) but step {step!r} "
                f"may go at {not_before_hours:g} h (not_before_hours)"
            )
        if claim.only_when and not flags.get(claim.only_when, False):
            problems.append(f"says {claim.key!r} when {claim.only_when} is false")
    return problems
