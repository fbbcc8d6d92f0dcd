"""The commands a newcomer runs: `reminders db upgrade`, `reminders api`, `reminders up`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import (
    BIN,
    ROOT,
    celery_beat_argv,
    celery_worker_argv,
    clean_env,
    descendants,
    service_env,
)
from tests.processes import free_port, served_api, wait_ready


def test_api_serves_health_and_readiness_after_db_upgrade(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'api.db'}", redis_url, key_prefix, tmp_path)
    refused = subprocess.run(
        [str(BIN / "reminders"), "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "reminders db upgrade" in refused.stderr

    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    with served_api(env, tmp_path / "api.log") as port:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize("argv", [celery_worker_argv(), celery_beat_argv()], ids=["worker", "beat"])
def test_worker_and_beat_refuse_an_unmigrated_database_naming_the_command(
    argv: list[str], tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'empty.db'}", redis_url, key_prefix, tmp_path)
    refused = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "run `reminders db upgrade`" in refused.stdout + refused.stderr


def test_a_worker_refuses_an_unusable_smtp_url_at_start_up(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'db.sqlite'}", redis_url, key_prefix, tmp_path)
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    env["REMINDERS_SMTP_URL"] = "http://mail.example"
    refused = subprocess.run(
        celery_worker_argv(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "REMINDERS_SMTP_URL" in refused.stdout + refused.stderr


def printed_login(output: str) -> tuple[str, str]:
    """The username and password `reminders up` printed at its first start."""
    found = re.search(r"log in as: (\S+)\s+password: (\S+)", output)
    assert found, output[:3000]
    return found.group(1), found.group(2)


def celery_worker_below(pid: int) -> int:
    """The pid of the Celery worker's main process among pid's children."""
    for child in sorted(descendants(pid)):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"worker" in argv and os.getpgid(child) == child:
            return child
    raise AssertionError(f"no celery worker below {pid}")


def test_make_up_on_embedded_defaults_restarts_a_dead_worker_shows_the_first_prompt_and_stops(
    tmp_path: Path,
) -> None:
    env = clean_env(
        PYTHONUNBUFFERED="1",
        REMINDERS_DISPATCH_INTERVAL_SECONDS="1",
        REMINDERS_OPERATOR_TOKEN="t",
        REMINDERS_VAR_DIR=str(tmp_path / "var"),
    )
    port = free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as handle:
        up = subprocess.Popen(
            [str(BIN / "reminders"), "up", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", up)
        started = log.read_text(errors="replace")
        # Where the dashboard is, how to log in (made once, on embedded defaults), and that
        # messages are printed, not sent.
        assert f"dashboard: http://127.0.0.1:{port}/ops" in started
        assert "CONSOLE MODE: SMS and email messages are PRINTED here, NOT SENT" in started
        user, password = printed_login(started)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            assert browser.get("/").headers["location"].endswith("/ops")
            signed_in = browser.post("/ops/login", data={"username": user, "password": password})
            assert signed_in.status_code == 303, signed_in.text
            assert f"signed in as {user}" in browser.get("/ops").text
        # A worker that dies (OOM, a broker bug) is restarted, and the restarted one sends.
        os.killpg(celery_worker_below(up.pid), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "worker exited with -9; restarting it" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        enrolled = subprocess.run(
            [str(BIN / "reminders"), "enroll", "--first-name", "Ana"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        deadline = time.monotonic() + 60
        while "Reply STOP to opt out" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        shown = log.read_text(errors="replace")
        assert re.search(r"INFO/ForkPoolWorker-\d+\] \n── CONSOLE, NOT SENT: SMS to", shown), shown
        assert "WARNING/ForkPoolWorker" not in shown  # console text is not filed as a warning
        # The worker's pool processes and the API share ./var/prometheus: the API counts the send.
        metrics = f"http://127.0.0.1:{port}/metrics"
        while 'reminders_sends_total{outcome="sent"' not in (
            httpx.get(metrics, headers={"Authorization": "Bearer t"}, timeout=10).text
        ):
            assert time.monotonic() < deadline, "the worker's send is not on the API's /metrics"
            time.sleep(0.5)
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "Warm shutdown" in output
    # Beat ticks every second here; its routine lines stay out of the default log.
    assert "Sending due task dispatch-due" not in output
    assert "reminders.dispatch_due[" not in output
    assert "log in as:" not in output.split("Warm shutdown")[1]
    assert not (tmp_path / "var" / "redis.sock").exists(), "embedded Redis left running"
