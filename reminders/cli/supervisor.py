"""`make up`: migrate, start Redis if needed, run api + worker + beat (restarted if they exit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from reminders.cli.startup import banner, hold_folder, require_free_port
from reminders.config import Settings
from reminders.db import make_engine
from reminders.migration import upgrade
from reminders.ops.metrics import MULTIPROC_ENV, empty_directory
from reminders.redis_link import start_embedded, stop_embedded
from reminders.secretbox import make_private_dir

BIN = Path(sys.executable).parent
# docker-compose.yml runs these same commands, one per service.
SERVICES = {
    "api": [str(BIN / "reminders"), "api"],
    "worker": [str(BIN / "celery"), "-A", "workers", "worker", "--loglevel", "INFO"],
    "beat": [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel", "INFO"],
}
STOP_GRACE_SECONDS = 20


class Child(Protocol):
    """The part of subprocess.Popen the supervisor uses."""

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    """Restart a service that exits, unless it keeps exiting: then it is broken, not unlucky."""

    limit: int = 5
    window_seconds: float = 60.0

    def allows(self, exits: list[float], now: float) -> bool:
        """True while fewer than `limit` exits happened in the last `window_seconds`."""
        return sum(1 for at in exits if now - at < self.window_seconds) < self.limit


class Supervisor:
    """Runs named commands and restarts those that exit (compose's `restart: unless-stopped`)."""

    def __init__(
        self,
        commands: dict[str, list[str]],
        spawn: Callable[[list[str]], Child],
        policy: RestartPolicy,
        clock: Callable[[], float],
        say: Callable[[str], None],
    ) -> None:
        self.commands, self.spawn, self.policy = commands, spawn, policy
        self.clock, self.say = clock, say
        self.children = {name: spawn(argv) for name, argv in commands.items()}
        self.exits: dict[str, list[float]] = {name: [] for name in commands}

    def check(self) -> bool:
        """Restart what exited; False when a service exits too often to keep restarting."""
        for name, child in self.children.items():
            code = child.poll()
            if code is None:
                continue
            now = self.clock()
            self.exits[name].append(now)
            if not self.policy.allows(self.exits[name], now):
                self.say(
                    f"reminders: {name} exited {self.policy.limit} times within "
                    f"{self.policy.window_seconds:.0f} s (last code {code}); stopping the rest"
                )
                return False
            # A worker can die of a broker hiccup (Celery 5.7 may exit on a Redis restart);
            # the database leases make a restart safe, and it is what the operator would do.
            self.say(f"reminders: {name} exited with {code}; restarting it")
            self.children[name] = self.spawn(self.commands[name])
        return True


def run_all(settings: Settings, port: int) -> int:
    """Run every service in the foreground; return the exit code for the shell."""
    # One `up` per folder, and a taken port stops here, not in a loop of API restarts.
    if settings.on_embedded_defaults:
        make_private_dir(settings.var_dir)  # the database, keys and Redis socket: owner only
    lock = hold_folder(settings.var_dir)
    try:
        require_free_port(port)
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        print(banner(settings, engine, port, datetime.now(UTC)), flush=True)
        engine.dispose()
        return run_services(settings, port)
    finally:
        lock.close()


def run_services(settings: Settings, port: int) -> int:
    """Start the embedded Redis if needed, then supervise api, worker and beat."""
    # The one place the embedded Redis starts, and the one that stops it; the children find it
    # through REMINDERS_REDIS_URL, other commands through its socket under var/.
    redis_url = settings.redis_url or start_embedded(settings.var_dir)
    # One host, one metrics directory: the API's /metrics sums every process's counts in it.
    metrics_dir = Path(os.environ.get(MULTIPROC_ENV) or settings.var_dir / "prometheus")
    empty_directory(metrics_dir)
    try:
        return supervise_services(
            redis_url, metrics_dir, port, show_bodies=settings.on_embedded_defaults
        )
    finally:
        stop_embedded()


def supervise_services(
    redis_url: str, metrics_dir: Path, port: int, show_bodies: bool = False
) -> int:
    """Run api, worker and beat on this Redis until Ctrl-C or a crash loop."""
    env = dict(os.environ, REMINDERS_REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    if show_bodies:  # a developer's terminal: the console channel prints what it would send
        env.setdefault("REMINDERS_CONSOLE_SHOW_BODIES", "1")
    env[MULTIPROC_ENV] = str(metrics_dir.resolve())
    commands = dict(SERVICES, api=[*SERVICES["api"], "--port", str(port)])

    def spawn(argv: list[str]) -> Child:
        # Own sessions: Ctrl-C reaches only us, and we stop the children in order.
        return subprocess.Popen(argv, env=env, start_new_session=True)

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    supervisor = Supervisor(commands, spawn, RestartPolicy(), time.monotonic, print)
    print(f"reminders: api on http://127.0.0.1:{port}, worker and beat running. Ctrl-C stops.")
    print(f"reminders: open http://127.0.0.1:{port}/ops to log in (see above).", flush=True)
    code = 0
    try:
        while not stopping:
            if not supervisor.check():
                code, stopping = 1, True
            time.sleep(0.3)
    finally:
        stop_children(supervisor.children)
    return code


def stop_children(children: dict[str, Child]) -> None:
    """SIGTERM each child (Celery's warm shutdown), then SIGKILL what outlives the grace period."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
