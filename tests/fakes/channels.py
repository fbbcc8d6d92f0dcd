"""A channel that records what it was asked to send and fails on cue."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from reminders.channels.base import Outgoing, SendError
from reminders.outbox.recovery import CANNOT_TELL, Finding, SentQuery


class ScriptedChannel:
    """Records every send; raises the scripted errors first, in order, then succeeds."""

    def __init__(self, name: str, errors: Iterable[SendError] = ()) -> None:
        self.name = name
        self.sent: list[Outgoing] = []
        self._errors = list(errors)
        self._lock = threading.Lock()

    def send(self, outgoing: Outgoing) -> str:
        with self._lock:
            if self._errors:
                raise self._errors.pop(0)
            self.sent.append(outgoing)
            return f"FAKE{outgoing.message_id}"


class FixedFinder:
    """Answers every reconciliation query with the same finding, and records the queries."""

    def __init__(self, finding: Finding | None = None) -> None:
        self.finding = finding or Finding(CANNOT_TELL)
        self.queries: list[SentQuery] = []

    def find(self, query: SentQuery) -> Finding:
        self.queries.append(query)
        return self.finding
