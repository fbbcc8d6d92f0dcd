"""Build the FastAPI application from settings."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import anyio
from fastapi import FastAPI

from reminders import __version__, secretbox
from reminders.api import (
    accesslog,
    actions,
    clinic_events,
    docs_page,
    events_page,
    exposition,
    health,
    login,
    message_pages,
    ops,
    twilio_hooks,
    unsubscribe,
)
from reminders.api.auth import OperatorRefusedError, SessionRefresher, refusal
from reminders.api.body_limit import BodyLimit
from reminders.api.deps import AppState
from reminders.api.headers import SecurityHeaders
from reminders.api.opsstate import build_ops_state
from reminders.channels.base import Channel
from reminders.channels.registry import build_channels
from reminders.config import Settings, load_settings
from reminders.consent.gate import ConsentGate, gate_for, patience_for
from reminders.consent.unsubscribe import link_key
from reminders.db import make_engine, require_migrated
from reminders.delivery.rendering import Renderer
from reminders.ops.metrics import mark_process_dead
from reminders.redis_link import find_redis_url


def create_app(
    settings: Settings | None = None,
    channels: dict[str, Channel] | None = None,
    gate: ConsentGate | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The application; refuses to start on an un-migrated database. Channels send clinic alerts."""
    accesslog.install()
    state = make_state(settings or load_settings(), channels, gate, clock)
    engine = state.engine
    ops = build_ops_state(state)

    @asynccontextmanager
    async def lifespan(started: FastAPI) -> AsyncIterator[None]:
        yield
        mark_process_dead(os.getpid())  # uvicorn has no child-exit hook; a worker ends here
        engine.dispose()

    app = FastAPI(
        title="Aftercare reminders",
        version=__version__,
        description="Aftercare prompts for skin clinics: webhooks in, SMS and email out.",
        lifespan=lifespan,
        # Served by docs_page from local files: the default pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.reminders = state
    app.state.ops = ops
    for router in ROUTERS:
        app.include_router(router)
    docs_page.mount_assets(app)
    app.add_exception_handler(OperatorRefusedError, refusal)
    settings = state.settings
    app.add_middleware(
        BodyLimit,
        event_bytes=settings.api_max_event_bytes,
        form_bytes=settings.api_max_form_bytes,
    )
    app.add_middleware(exposition.WebhookCounter)
    app.add_middleware(SessionRefresher)
    app.add_middleware(SecurityHeaders)  # outermost: every answer, errors included
    return app


# Every route of the API, in matching order.
ROUTERS = (
    health.router,
    docs_page.router,
    login.router,
    ops.router,
    message_pages.router,
    events_page.router,
    actions.router,
    exposition.router,
    clinic_events.router,
    twilio_hooks.router,
    unsubscribe.router,
)


def make_state(
    settings: Settings,
    channels: dict[str, Channel] | None,
    gate: ConsentGate | None,
    clock: Callable[[], datetime] | None,
) -> AppState:
    """What every route shares; refuses an un-migrated database."""
    secretbox.configure(settings)
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    state = AppState(
        settings=settings,
        engine=engine,
        redis_url=find_redis_url(settings.redis_url, settings.var_dir),
        channels=channels if channels is not None else build_channels(settings),
        link_key=link_key(settings),
        event_limiter=anyio.CapacityLimiter(settings.api_event_threads),
        gate=gate or gate_for(engine, patience_for(settings.twilio_timeout_seconds)),
        renderer=Renderer(settings.templates_dir),
    )
    if clock is not None:  # otherwise the wall clock
        state.clock = clock
    return state
