"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from reminders.api import schemas
from reminders.api.deps import AppState, app_state
from reminders.redis_link import answers

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="The process is up",
    responses={200: schemas.json_example("Serving", {"status": "ok"})},
)
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database and Redis are reachable",
    responses={
        200: schemas.json_example("Both answer", {"database": "ok", "redis": "ok"}),
        503: schemas.json_example(
            "One does not answer, named", {"database": "ok", "redis": "unreachable"}
        ),
    },
)
def readyz(state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    """200 when both dependencies answer, else 503 naming the one that does not."""
    checks = {"database": database_ok(state), "redis": answers(state.redis_url)}
    code = 200 if all(checks.values()) else 503
    body = {name: "ok" if ok else "unreachable" for name, ok in checks.items()}
    return JSONResponse(body, status_code=code)


def database_ok(state: AppState) -> bool:
    """True when a trivial query succeeds."""
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
