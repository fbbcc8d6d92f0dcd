"""The consent gate: a STOP commits only after the SMS sends that already read consent."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.consent.gate import FileGate, RowLockGate, gate_for, patience_for
from reminders.inbound.handler import Inbound, receive
from reminders.models import PATIENTS
from tests.factories import make_clinic, make_patient_with_treatment

ANNA, BEN = "+15555550100", "+15555550101"


class Stopwatch:
    """A fake monotonic clock that advances only when the gate sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.naps: list[float] = []

    def clock(self) -> float:
        """The fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time."""
        self.naps.append(seconds)
        self.now += seconds


def gate(directory: Path, watch: Stopwatch, patience: float = 20.0) -> FileGate:
    """A file gate on the fake clock."""
    return FileGate(directory, patience=patience, clock=watch.clock, sleep=watch.sleep)


def test_numbers_in_different_buckets_are_used_below(tmp_path: Path) -> None:
    files = FileGate(tmp_path)
    assert files.bucket(ANNA) != files.bucket(BEN)


def test_a_change_waits_for_a_send_already_under_way(tmp_path: Path) -> None:
    sender = FileGate(tmp_path).sending([ANNA])
    sender.__enter__()
    left: list[float] = []

    def finish_send(seconds: float) -> None:
        left.append(seconds)
        sender.__exit__(None, None, None)  # the send ends while the change is waiting

    with FileGate(tmp_path, sleep=finish_send).changing([ANNA]):
        assert left, "the change went ahead while a send was under way"


def test_a_change_does_not_wait_for_sends_to_other_numbers(tmp_path: Path) -> None:
    watch = Stopwatch()
    with FileGate(tmp_path).sending([BEN]), gate(tmp_path, watch).changing([ANNA]):
        pass
    assert watch.naps == []


def test_a_sender_is_turned_away_from_a_number_whose_change_is_under_way(tmp_path: Path) -> None:
    with FileGate(tmp_path).changing([ANNA]), FileGate(tmp_path).sending([ANNA, BEN]) as busy:
        assert busy == {ANNA}
    with FileGate(tmp_path).sending([ANNA, BEN]) as busy:
        assert busy == set()


def test_a_change_goes_ahead_after_its_patience_when_a_send_hangs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = Stopwatch()
    with (
        FileGate(tmp_path).sending([ANNA]),
        caplog.at_level(logging.WARNING),
        gate(tmp_path, watch, patience=3.0).changing([ANNA]),
    ):
        pass
    assert 3.0 <= watch.now < 3.1
    assert "went ahead after 3 s" in caplog.text
    assert ANNA not in caplog.text  # masked


def test_a_killed_sender_does_not_hold_back_a_change(tmp_path: Path) -> None:
    script = (
        "import sys, time; from pathlib import Path; from reminders.consent.gate import FileGate\n"
        f"with FileGate(Path({str(tmp_path)!r})).sending([{ANNA!r}]):\n"
        "    print('sending', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "sending"
        watch = Stopwatch()
        with gate(tmp_path, watch, patience=1.0).changing([ANNA]):
            assert watch.now >= 1.0, "the change did not wait for the live sender"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        watch = Stopwatch()
        with gate(tmp_path, watch).changing([ANNA]):
            pass
        assert watch.naps == []
    finally:
        child.kill()
        child.wait(timeout=10)


def test_sqlite_gets_a_file_gate_beside_its_database_and_postgresql_row_locks(
    engine: Engine,
) -> None:
    chosen = gate_for(engine)
    if engine.dialect.name == "sqlite":
        assert isinstance(chosen, FileGate)
        database = Path(str(engine.url.database))
        assert chosen.directory == database.with_name(database.name + ".gate")
    else:
        assert isinstance(chosen, RowLockGate)


def test_numbers_given_as_a_generator_are_all_checked(tmp_path: Path) -> None:
    with (
        FileGate(tmp_path).changing(n for n in [ANNA]),
        FileGate(tmp_path).sending(n for n in [ANNA, BEN]) as busy,
    ):
        assert busy == {ANNA}


class WatchingGate(RowLockGate):
    """Records each consent change and whether the STOP was committed inside it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.changes: list[tuple[list[str], bool, bool]] = []

    @contextmanager
    def changing(self, numbers: Iterable[str]) -> Iterator[None]:
        before = self.opted_out()
        yield
        self.changes.append((list(numbers), before, self.opted_out()))

    def opted_out(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(select(PATIENTS.c.sms_opted_out_at)).scalar() is not None


def test_a_texted_stop_is_committed_while_holding_the_gate(engine: Engine) -> None:
    make_clinic(engine)
    make_patient_with_treatment(engine)
    watching = WatchingGate(engine)
    receive(engine, watching, Inbound("+15555550123", "STOP", "SM1"), datetime.now(UTC))
    assert watching.changes == [(["+15555550123"], False, True)]


def test_other_texts_pass_the_gate_without_waiting(engine: Engine) -> None:
    make_clinic(engine)
    make_patient_with_treatment(engine)
    watching = WatchingGate(engine)
    receive(engine, watching, Inbound("+15555550123", "thanks!", "SM2"), datetime.now(UTC))
    assert watching.changes == [([], False, False)]


def test_a_number_is_stopping_only_while_its_change_holds_the_turnstile(tmp_path: Path) -> None:
    files = FileGate(tmp_path)
    assert not files.stopping(ANNA)
    with FileGate(tmp_path).changing([ANNA]):
        assert files.stopping(ANNA) and not files.stopping(BEN)
    assert not files.stopping(ANNA)


def test_the_gate_waits_longer_than_a_twilio_connect_and_read_timeout() -> None:
    assert patience_for(10.0) > 20.0
