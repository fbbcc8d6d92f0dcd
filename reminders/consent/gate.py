"""Hold a STOP's commit until the SMS sends that already read the number's consent are done.

On PostgreSQL the send chunk's `FOR SHARE` row lock does this. SQLite has no row locks, so
there the same ordering comes from file locks beside the database: one file machine, as
SQLite itself requires.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from reminders.masking import mask_address

log = logging.getLogger(__name__)
# Longer than one Twilio request can take with the default 10 s connect and read timeouts.
DEFAULT_PATIENCE = 30.0


class ConsentGate(Protocol):
    """Orders consent changes after the sends that read the old consent."""

    # False where the database's row locks already order changes: callers may skip the work
    # of finding which numbers a change concerns.
    orders_changes: bool

    def sending(self, numbers: Iterable[str]) -> AbstractContextManager[set[str]]:
        """Enter before reading consent; yields the numbers not to send to now (a change is due)."""
        ...

    def changing(self, numbers: Iterable[str]) -> AbstractContextManager[None]:
        """Hold while committing a consent change; waits for sends already entered."""
        ...

    def stopping(self, number: str) -> bool:
        """True while a change for this number waits: a send not yet started must not start."""
        ...


class RowLockGate:
    """PostgreSQL: the send chunk's FOR SHARE lock already orders a STOP after its sends."""

    orders_changes = False

    def sending(self, numbers: Iterable[str]) -> AbstractContextManager[set[str]]:
        """Nothing to wait for."""
        return nullcontext(set())

    def changing(self, numbers: Iterable[str]) -> AbstractContextManager[None]:
        """Nothing to wait for."""
        return nullcontext()

    def stopping(self, number: str) -> bool:
        """The STOP waits on the row lock instead; sends in the chunk go ahead."""
        return False


class FileGate:
    """A writer-first read/write lock per number bucket, from flock(2) on two files.

    Senders pass the bucket's turnstile without waiting and share its room; a change holds the
    turnstile (so no new sender enters) and waits for the room to empty. The kernel drops
    every lock of a process that dies, so a killed worker never blocks a STOP.

    A change waits at most `patience` seconds for the room: senders check the turnstile again
    before each send, so once it is held only sends already started can still be in flight,
    and `patience` must exceed the longest one (connect plus read timeout).
    """

    orders_changes = True

    def __init__(
        self,
        directory: Path,
        buckets: int = 256,
        patience: float = DEFAULT_PATIENCE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.buckets, self.patience = directory, buckets, patience
        self.clock, self.sleep = clock, sleep

    @contextmanager
    def sending(self, numbers: Iterable[str]) -> Iterator[set[str]]:
        """Share the room of every number's bucket, unless a change holds its turnstile."""
        wanted = set(numbers)
        busy: set[int] = set()
        with ExitStack() as stack:
            for bucket in sorted({self.bucket(n) for n in wanted}):
                room = self.enter(bucket)
                if room is None:
                    busy.add(bucket)
                    continue
                stack.callback(os.close, room)  # closing the file drops its lock
            yield {n for n in wanted if self.bucket(n) in busy}

    @contextmanager
    def changing(self, numbers: Iterable[str]) -> Iterator[None]:
        """Take each bucket's turnstile, then its room once the senders inside have left."""
        wanted = set(numbers)
        deadline = self.clock() + self.patience
        with ExitStack() as stack:
            for bucket in sorted({self.bucket(n) for n in wanted}):
                for kind in ("turn", "room"):
                    handle = self.open(bucket, kind)
                    stack.callback(os.close, handle)
                    if not self.wait_exclusive(handle, deadline):
                        # Better a late STOP than a lost one: a sender stuck this long is hung.
                        log.warning(
                            "consent change for %s went ahead after %.0f s: sends still open",
                            ", ".join(mask_address(n) for n in sorted(wanted)),
                            self.patience,
                        )
                        break
            yield

    def stopping(self, number: str) -> bool:
        """True while a change holds this number's turnstile."""
        turn = self.open(self.bucket(number), "turn")
        try:
            fcntl.flock(turn, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(turn)
        return False

    def enter(self, bucket: int) -> int | None:
        """The room's handle, shared; None when a change is waiting at the turnstile."""
        turn = self.open(bucket, "turn")
        try:
            try:
                fcntl.flock(turn, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            room = self.open(bucket, "room")
            # Cannot wait: a change holds the room only while it holds the turnstile.
            fcntl.flock(room, fcntl.LOCK_SH)
            return room
        finally:
            os.close(turn)

    def wait_exclusive(self, handle: int, deadline: float) -> bool:
        """Poll for an exclusive lock until the deadline; flock(2) itself cannot time out."""
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if self.clock() >= deadline:
                    return False
                self.sleep(0.005)

    def open(self, bucket: int, kind: str) -> int:
        """A new open file per use: flock(2) locks belong to the open file, not the process."""
        path = self.directory / f"{bucket:03d}.{kind}"
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def bucket(self, number: str) -> int:
        """A stable bucket for a phone number, the same in every process."""
        return zlib.crc32(number.encode()) % self.buckets


def gate_for(engine: Engine, patience: float = DEFAULT_PATIENCE) -> ConsentGate:
    """Row locks on PostgreSQL; file locks beside the database file on SQLite.

    `patience` must exceed the longest single send (see FileGate).
    """
    if engine.dialect.name != "sqlite":
        return RowLockGate()
    database = engine.url.database
    if not database or database == ":memory:":
        # One process only (an in-memory database is not shared), so a private directory.
        return FileGate(Path(tempfile.mkdtemp(prefix="reminders-gate-")), patience=patience)
    path = Path(database).resolve()
    return FileGate(path.with_name(path.name + ".gate"), patience=patience)


def patience_for(twilio_timeout_seconds: float) -> float:
    """How long a STOP waits for sends: a Twilio connect plus read timeout, and a margin."""
    return 2 * twilio_timeout_seconds + 10
