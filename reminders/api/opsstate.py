"""Per-application operator helpers built once: a Redis client, the worker ping, the recorder."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from fastapi import Request

from reminders.api.deps import AppState
from reminders.ops.metrics import Recorder
from reminders.ops.workerping import WorkerPing

REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class OpsState:
    """What operator routes and the metrics share."""

    redis: redis.Redis
    ping: WorkerPing
    recorder: Recorder


def build_ops_state(state: AppState) -> OpsState:
    """Clients for this application; nothing connects until first used."""
    client = redis.Redis.from_url(
        state.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    ping = WorkerPing(state.redis_url, state.settings.redis_key_prefix)
    return OpsState(client, ping, Recorder())


async def ops_state(request: Request) -> OpsState:
    """FastAPI dependency: the OpsState create_app stored on the application (async: no thread)."""
    found: OpsState = request.app.state.ops
    return found
