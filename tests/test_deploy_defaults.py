"""Safe defaults when deployed: strong secrets or no start, and protective response headers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reminders.config import load_settings, weak_secrets
from tests.harness import BIN, service_env
from tests.opsclient import BEARER, make_client

DEPLOYED = {"database_url": "postgresql+psycopg://reminders@db/reminders"}
STRONG = "s" * 32


def test_a_deployment_with_a_short_operator_token_or_keys_is_refused_naming_each_setting() -> None:
    settings = load_settings(
        **DEPLOYED, secret_key="change-me", operator_token="t", session_secret="short"
    )
    problems = " ".join(weak_secrets(settings))
    for name in ("REMINDERS_SECRET_KEY", "REMINDERS_OPERATOR_TOKEN", "REMINDERS_SESSION_SECRET"):
        assert name in problems
    assert "at least 32" in problems


def test_a_deployment_without_a_secret_key_is_refused_but_unset_tokens_are_fine() -> None:
    settings = load_settings(**DEPLOYED, secret_key="", operator_token="", session_secret="")
    assert [p.split()[0] for p in weak_secrets(settings)] == ["REMINDERS_SECRET_KEY"]
    strong = load_settings(**DEPLOYED, secret_key=STRONG, operator_token=STRONG)
    assert weak_secrets(strong) == []


def test_the_embedded_defaults_may_keep_a_short_token() -> None:
    settings = load_settings(database_url="", secret_key="", operator_token="t")
    assert weak_secrets(settings) == []


def test_reminders_api_refuses_to_start_with_a_short_operator_token(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = service_env(
        f"sqlite:///{tmp_path / 'api.db'}", redis_url, key_prefix, tmp_path,
        REMINDERS_OPERATOR_TOKEN="change-me",
    )  # fmt: skip
    refused = subprocess.run(
        [str(BIN / "reminders"), "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "REMINDERS_OPERATOR_TOKEN must be at least 32" in refused.stderr
    assert "change-me" not in refused.stderr  # the value itself is never printed


@pytest.mark.parametrize("path", ["/healthz", "/ops/problems", "/v1/unsubscribe/1.x", "/nowhere"])
def test_every_response_carries_csp_frame_and_sniffing_headers(
    path: str, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = make_client(database_url, redis_url, key_prefix, tmp_path)
    response = client.get(path, headers=BEARER)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"


def test_swagger_ui_may_load_its_bundle_and_start_up_script(
    database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = make_client(database_url, redis_url, key_prefix, tmp_path)
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    for source in ("swagger-ui-bundle.js", "swagger-ui.css"):
        # Wherever the page loads its assets from, the policy allows that origin.
        src = response.text.split(source)[0].rsplit('"', 1)[-1]
        origin = "'self'" if src.startswith("/") else "/".join(src.split("/")[:3])
        assert origin in policy, (src, policy)
    assert "'unsafe-inline'" in policy.split("script-src")[1].split(";")[0]
