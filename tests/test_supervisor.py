"""`reminders up` restarts a service that exits, and stops on a crash loop."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from reminders.cli.startup import AlreadyRunningError, hold_folder, require_free_port
from reminders.cli.supervisor import RestartPolicy, Supervisor
from tests.harness import BIN, clean_env

DEFAULT_POLICY = RestartPolicy()


class FakeChild:
    """A process that is running until the test says it exited."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.returncode = -sig

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode or 0

    def kill(self) -> None:
        self.returncode = -9


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervise(
    policy: RestartPolicy = DEFAULT_POLICY,
) -> tuple[Supervisor, list[FakeChild], Clock, list[str]]:
    spawned: list[FakeChild] = []
    said: list[str] = []

    def spawn(argv: list[str]) -> FakeChild:
        spawned.append(FakeChild(argv))
        return spawned[-1]

    clock = Clock()
    commands = {"worker": ["celery", "worker"], "beat": ["celery", "beat"]}
    return Supervisor(commands, spawn, policy, clock, said.append), spawned, clock, said


def exit_(supervisor: Supervisor, name: str, code: int) -> None:
    """Make the named service's current process exit with `code`."""
    child = supervisor.children[name]
    assert isinstance(child, FakeChild)
    child.returncode = code


def test_a_service_that_exits_is_restarted_with_the_same_command() -> None:
    supervisor, spawned, clock, said = supervise()
    exit_(supervisor, "worker", 1)
    clock.now = 10

    assert supervisor.check()
    assert len(spawned) == 3
    assert supervisor.children["worker"] is spawned[-1]
    assert spawned[-1].argv == ["celery", "worker"]
    assert said == ["reminders: worker exited with 1; restarting it"]


def test_running_services_are_left_alone() -> None:
    supervisor, spawned, _clock, said = supervise()

    assert supervisor.check()
    assert supervisor.check()
    assert len(spawned) == 2
    assert said == []


def test_a_service_in_a_crash_loop_stops_everything() -> None:
    supervisor, _spawned, clock, said = supervise(RestartPolicy(limit=3, window_seconds=60))
    verdicts = []
    for second in range(3):
        clock.now = float(second)
        exit_(supervisor, "beat", 2)
        verdicts.append(supervisor.check())

    assert verdicts == [True, True, False]
    assert said[-1] == "reminders: beat exited 3 times within 60 s (last code 2); stopping the rest"


def test_exits_spread_beyond_the_window_are_restarted_every_time() -> None:
    supervisor, spawned, clock, _said = supervise(RestartPolicy(limit=2, window_seconds=60))
    for minute in range(5):
        clock.now = minute * 61.0
        exit_(supervisor, "worker", 1)
        assert supervisor.check()

    assert len(spawned) == 2 + 5


def test_a_second_up_in_the_same_folder_stops_at_once_naming_the_first(tmp_path) -> None:
    first = hold_folder(tmp_path / "var")
    try:
        with pytest.raises(AlreadyRunningError, match=rf"already running .*pid {os.getpid()}"):
            hold_folder(tmp_path / "var")
        hold_folder(tmp_path / "elsewhere").close()  # another folder is another service
    finally:
        first.close()
    hold_folder(tmp_path / "var").close()  # free again once the first one ends


def test_a_port_in_use_stops_start_up_with_the_port_and_a_way_out() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AlreadyRunningError, match=rf"port {port} .*--port {port + 1}"):
            require_free_port(port)
    require_free_port(port)  # released: fine


def test_up_on_a_taken_port_exits_at_once_instead_of_restarting_the_api(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        up = subprocess.run(
            [str(BIN / "reminders"), "up", "--port", str(port)],
            env=clean_env(REMINDERS_VAR_DIR=str(tmp_path / "var")),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert up.returncode == 2, up.stdout + up.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in up.stderr
    assert "restarting" not in up.stdout and time.monotonic() - started < 30
