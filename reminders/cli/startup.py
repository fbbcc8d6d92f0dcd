"""What `reminders up` checks and says before it starts anything: one per folder, a free port,
a first login on embedded defaults, and whether messages are really sent."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from reminders.channels.registry import console_notice
from reminders.config import Settings
from reminders.db import session_scope
from reminders.errors import SetupError
from reminders.ops.first_login import FirstLogin, first_admin

LOCK_NAME = "up.lock"


class AlreadyRunningError(SetupError):
    """Another `reminders up` holds this folder's var/, or the port is taken."""


def hold_folder(var_dir: Path) -> IO[str]:
    """Lock var/up.lock for as long as the returned file stays open; refuse a second holder."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunningError(
            f"`reminders up` is already running for {var_dir.resolve()} (pid {holder}): "
            "use that one, or stop it (Ctrl-C in its terminal) before starting again"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def require_free_port(port: int, host: str = "127.0.0.1") -> None:
    """Refuse at once when something already listens on the API's port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            raise AlreadyRunningError(
                f"port {port} on {host} is already in use (another `reminders up`, or another "
                f"program): stop it, or choose another port: reminders up --port {port + 1}"
            ) from None


def login_lines(settings: Settings, engine: Engine, port: int, now: datetime) -> list[str]:
    """Where the dashboard is and how to log in; makes the first admin on embedded defaults."""
    base = f"http://127.0.0.1:{port}"
    lines = [f"dashboard: {base}/ops   API docs: {base}/docs"]
    with session_scope(engine) as session:
        made: FirstLogin = first_admin(session, now, embedded=not settings.database_url)
    if made.password:
        lines += [
            f"log in as: {made.username}   password: {made.password}",
            "  (shown this once and stored only hashed; change it with "
            f"`reminders operators passwd {made.username}`)",
        ]
    else:
        lines.append(made.hint)
    return lines


def banner(settings: Settings, engine: Engine, port: int, now: datetime) -> str:
    """Everything `reminders up` prints before its services' own output."""
    lines = login_lines(settings, engine, port, now)
    notice = console_notice(settings)
    return "\n".join(lines + ([notice] if notice else []))
