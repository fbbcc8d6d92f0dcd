"""`reminders up` restarts a service that exits, and stops on a crash loop."""

from __future__ import annotations

from reminders.cli.supervisor import RestartPolicy, Supervisor

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
