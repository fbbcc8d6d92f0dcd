"""A newcomer's first hour: `/` leads somewhere, /docs works offline, the first login is made
once, and `reminders webhook send` takes the README's example as written."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from reminders.cli.webhook_sender import answer_text, event_parts
from reminders.db import session_scope
from reminders.ops import accounts
from reminders.ops.first_login import first_admin
from tests.harness import BIN, ROOT, clean_env
from tests.opsclient import make_client

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[TestClient]:
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        yield client


def test_the_root_address_leads_to_the_dashboard_not_a_json_404(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code in (302, 307) and response.headers["location"] == "/ops"


def test_the_docs_page_loads_every_asset_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    assert links, page.text
    assert [link for link in links if "//" in link] == []  # no CDN, no other host
    for link in links:
        assert client.get(link).status_code == 200, link
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/redoc").status_code in (307, 404)  # the CDN-only page is not served


def test_the_first_start_on_embedded_defaults_makes_one_admin_whose_password_works(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        made = first_admin(session, NOW, embedded=True)
    assert made.username == "admin" and len(made.password) >= 16
    with session_scope(engine) as session:
        assert accounts.sign_in(session, "admin", made.password).account is not None
        again = first_admin(session, NOW, embedded=True)
    assert again.password == "" and "reminders operators" in again.hint
    with session_scope(engine) as session:
        assert [a.username for a in accounts.listed(session)] == ["admin"]


def test_a_shared_database_gets_no_account_made_by_whoever_starts_first(engine: Engine) -> None:
    with session_scope(engine) as session:
        made = first_admin(session, NOW, embedded=False)
        assert accounts.listed(session) == []
    assert made.password == "" and "reminders operators add" in made.hint


def test_webhook_send_takes_a_whole_body_or_its_data_with_a_type() -> None:
    data = {"patient_id": "p-1", "channel": "sms"}
    body = {"type": "patient.opted_out", "data": data}
    assert event_parts(body, None) == ("patient.opted_out", data)
    assert event_parts(body, "patient.opted_out") == ("patient.opted_out", data)
    assert event_parts(data, "patient.opted_out") == ("patient.opted_out", data)
    with pytest.raises(ValueError, match="contradicts"):
        event_parts(body, "treatment.cancelled")
    with pytest.raises(ValueError, match="give --type"):
        event_parts(data, None)
    with pytest.raises(ValueError, match="JSON object"):
        event_parts([1], None)


def test_a_non_json_answer_is_printed_as_text_not_a_traceback() -> None:
    html = httpx.Response(500, text="<html><body>Internal Server Error</body></html>")
    assert answer_text(html) == "<html><body>Internal Server Error</body></html>"
    assert json.loads(answer_text(httpx.Response(202, json={"ok": 1}))) == {"ok": 1}


def test_webhook_send_reports_a_server_error_page_in_one_clean_answer(tmp_path: Path) -> None:
    import http.server
    import threading

    class Broken(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(500)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(b"<h1>Internal Server Error</h1>")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "treatment.cancelled", "data": {"treatment_id": "t"}}))
    try:
        sent = subprocess.run(
            [str(BIN / "reminders"), "webhook", "send", "--clinic", "glow",
             "--data", str(event), "--url", f"http://127.0.0.1:{server.server_port}"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env=clean_env(REMINDERS_WEBHOOK_SECRET="whsec_" + "A" * 44),
        )  # fmt: skip
    finally:
        server.shutdown()
    assert sent.returncode == 1
    assert "HTTP 500" in sent.stdout and "Internal Server Error" in sent.stdout
    assert "Traceback" not in sent.stderr, sent.stderr
