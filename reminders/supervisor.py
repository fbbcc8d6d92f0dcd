"""`make up`: migrate, start Redis if needed, run api + worker + beat until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reminders.config import Settings
from reminders.db import make_engine
from reminders.migration import upgrade
from reminders.redis_link import resolve_redis_url, stop_embedded

BIN = Path(sys.executable).parent
# docker-compose.yml runs these same commands, one per service.
SERVICES = {
    "api": [str(BIN / "reminders"), "api"],
    "worker": [str(BIN / "celery"), "-A", "workers", "worker", "--loglevel", "INFO"],
    "beat": [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel", "INFO"],
}
STOP_GRACE_SECONDS = 20


def run_all(settings: Settings, port: int) -> int:
    """Run every service in the foreground; return the exit code for the shell."""
    upgrade(make_engine(settings.effective_database_url))
    redis_url = resolve_redis_url(settings.redis_url, settings.var_dir)
    env = dict(os.environ, REMINDERS_REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    commands = dict(SERVICES, api=[*SERVICES["api"], "--port", str(port)])
    # Own sessions: Ctrl-C reaches only us, and we stop the children in order.
    children = {
        name: subprocess.Popen(argv, env=env, start_new_session=True)
        for name, argv in commands.items()
    }
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"reminders: api on http://127.0.0.1:{port}, worker and beat running. Ctrl-C stops.")
    code = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"reminders: {name} exited with {child.returncode}; stopping the rest")
                    code, stopping = 1, True
            time.sleep(0.3)
    finally:
        stop_children(children)
        stop_embedded()
    return code


def stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
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
