"""Claim what is due in batches and hand each batch to a queue; give claims back on failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from reminders.errors import SetupError
from reminders.outbox.claim import claim_due, release_claims

log = logging.getLogger(__name__)
Enqueue = Callable[[Sequence[int]], None]


class EnqueueError(Exception):
    """The queue did not take a batch (raised by an Enqueue function)."""


class BrokerUnavailableError(SetupError):
    """The queue refused a batch; its claims were released and nothing is lost."""


def dispatch_due(
    engine: Engine,
    enqueue: Enqueue,
    clock: Callable[[], datetime],
    owner: str,
    batch_size: int,
    lease: timedelta,
    max_batches: int = 50,
    observe_claim: Callable[[float], None] | None = None,
) -> int:
    """Claim and enqueue up to max_batches batches; return how many rows were handed over."""
    total = 0
    for _ in range(max_batches):
        started = time.perf_counter()
        ids = claim_due(engine, clock(), batch_size, owner, lease)
        if observe_claim is not None:
            observe_claim(time.perf_counter() - started)
        if not ids:
            break
        try:
            enqueue(ids)
        except EnqueueError as exc:
            release_claims(engine, ids, clock())
            raise BrokerUnavailableError(
                f"could not enqueue {len(ids)} due messages ({exc}); "
                "they stay pending in the database and go out when the broker is back"
            ) from exc
        total += len(ids)
    if total:
        log.info("dispatched %d due messages", total)
    return total
