"""Shared state handed to every route: settings, engine, Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
from fastapi import Request
from sqlalchemy.engine import Engine

from reminders.channels.base import Channel
from reminders.config import Settings
from reminders.consent.gate import ConsentGate
from reminders.delivery.rendering import Renderer


@dataclass
class AppState:
    """What routes need; built once in create_app."""

    settings: Settings
    engine: Engine
    redis_url: str
    # Clinic events applied at once (REMINDERS_API_EVENT_THREADS): the work is CPU-bound
    # Python, so more threads per process only fight over the GIL.
    event_limiter: anyio.CapacityLimiter
    # Orders a texted STOP after the SMS sends already under way (see consent_gate).
    gate: ConsentGate
    channels: dict[str, Channel] = field(default_factory=dict)
    link_key: bytes = b""
    # Renders what the API says to patients and clinics (SMS answers, unsubscribe pages,
    # alerts) from REMINDERS_TEMPLATES_DIR.
    renderer: Renderer = field(default_factory=Renderer)
    # When clinic events arrive; tests pass a fixed one.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


async def app_state(request: Request) -> AppState:
    """FastAPI dependency: the application's state.

    Async, though it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread,
    and that hand-off on every request cost more than reading the state.
    """
    state: AppState = request.app.state.reminders
    return state
