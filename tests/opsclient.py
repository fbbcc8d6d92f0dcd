"""An in-process client for the API, operator accounts and a login: shared by test modules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from reminders.api.app import create_app
from reminders.config import load_settings
from reminders.db import session_scope
from reminders.ops import accounts

TOKEN = "s3cret-operator-token-of-32-characters"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD = "correct horse battery"


def make_client(
    database_url: str,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    token: str = TOKEN,
    **settings: object,
) -> TestClient:
    loaded = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        operator_token=token,
        var_dir=tmp_path,
        **settings,
    )
    return TestClient(create_app(loaded), follow_redirects=False)


def add_operator(
    engine: Engine, username: str, role: str = "admin", clinic_id: str | None = None
) -> None:
    """An account with PASSWORD, as `reminders operators add` makes it."""
    with session_scope(engine) as session:
        accounts.create(session, username, PASSWORD, role, clinic_id, "cli:test", datetime.now(UTC))


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the CSRF token the dashboard puts in its forms."""
    response = client.post("/ops/login", data={"username": username, "password": password})
    assert response.status_code == 303, response.text
    page = client.get("/ops/problems")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)
