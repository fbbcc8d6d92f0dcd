"""Webhook outcomes counted in memory and written to the shared store about once a second.

A Redis round trip and a thread hop for every webhook cost more than the counting itself;
/metrics and shutdown write what is pending first, so a scrape of this process never lags.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from reminders.metrics import Recorder


class WebhookTally:
    """Counts webhook outcomes; `write` adds them to the Recorder's shared counters."""

    def __init__(
        self, recorder: Recorder, every: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.recorder, self.every, self.clock = recorder, every, clock
        self.counts: Counter[str] = Counter()
        self.written_at = clock()
        # Counted on the event loop, written from a worker thread.
        self.lock = threading.Lock()

    def add(self, outcome: str) -> bool:
        """Count one webhook; True when the caller should now `write` (once per interval)."""
        with self.lock:
            self.counts[outcome] += 1
            now = self.clock()
            if now - self.written_at < self.every:
                return False
            self.written_at = now  # this caller writes; the others keep counting
            return True

    def write(self) -> None:
        """Add everything counted so far to the shared store (one Redis round trip)."""
        with self.lock:
            counts, self.counts = self.counts, Counter()
            self.written_at = self.clock()
        if counts:
            self.recorder.record_webhooks(counts)
