"""An in-process client for the API with an operator token: shared by test modules."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from reminders.api.app import create_app
from reminders.config import load_settings

TOKEN = "s3cret-operator-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def make_client(
    database_url: str, redis_url: str, key_prefix: str, tmp_path: Path, token: str = TOKEN
) -> TestClient:
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        operator_token=token,
        var_dir=tmp_path,
    )
    return TestClient(create_app(settings), follow_redirects=False)
