"""Signed treatment.completed events against uvicorn (2 workers) on PostgreSQL, 32 at a time."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import REDIS_URL, Database, save
from bench.loadgen import fire, post_request
from bench.processes import (
    BIN,
    connections_held,
    postgres_cpu_seconds,
    service_env,
    start,
    stop,
    tree_cpu_seconds,
)
from reminders.cli.webhook_sender import event_body, signed_headers
from reminders.db import session_scope
from reminders.intake.clinics import create_clinic

PORT, CONCURRENCY, WARMUP = 18_766, 32, 1_500
PATH = "/v1/clinics/bench/events"


def event(n: int) -> dict[str, object]:
    ended = datetime.now(UTC) - timedelta(hours=1)
    return {
        "patient": {
            "external_id": f"p-{n}",
            "first_name": "Ana",
            "phone": f"+1212{2_000_000 + n:07d}",
            "email": f"p{n}@example.com",
            "timezone": "America/New_York",
            "locale": "en",
            "consent": {"sms": True, "email": True},
        },
        "treatment": {
            "external_id": f"t-{n}",
            "ended_at": ended.isoformat(),
            "area": "face",
            "needle_depth_mm": 1.0,
            "session_number": 1,
            "sessions_planned": 3,
        },
    }


def signed_requests(secret: str, count: int, offset: int) -> list[bytes]:
    """Whole signed requests, built before the clock starts (a clinic signs on its own CPU)."""
    requests = []
    for n in range(offset, offset + count):
        body = event_body("treatment.completed", event(n))
        headers = signed_headers(secret, body)
        requests.append(post_request(f"127.0.0.1:{PORT}", PATH, body, headers))
    return requests


def spread(api_pid: int, ports: list[int]) -> list[int]:
    """How many of these connections each uvicorn worker accepted, most first."""
    deadline = time.monotonic() + 10
    while True:
        held = connections_held(api_pid, PORT, set(ports))
        if sum(held.values()) == len(ports) or time.monotonic() > deadline:
            return sorted(held.values(), reverse=True)
        time.sleep(0.01)  # the kernel has the connection; a worker has yet to accept it


def shares(split: list[int]) -> str:
    """A split of connections as 17/15."""
    return "/".join(map(str, split))


def wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("api did not start")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    with Database() as database:
        with session_scope(database.engine) as session:
            _clinic, secret = create_clinic(session, "bench", "Bench Clinic", window="08:00-20:00")
        env = service_env(database.url, REDIS_URL, f"bw{uuid.uuid4().hex[:6]}:")
        api = start(
            [str(BIN / "reminders"), "api", "--port", str(PORT), "--workers", "2"],
            env,
            workdir / "api.log",
        )
        try:
            wait_up(f"http://127.0.0.1:{PORT}")
            warmup = signed_requests(secret, WARMUP, 5_000_000)
            batch = signed_requests(secret, args.requests, 0)
            split: dict[str, list[int]] = {}
            cpu: dict[str, tuple[float, float]] = {}  # API and PostgreSQL CPU seconds so far

            def opened(ports: list[int]) -> None:
                split["at_open"] = spread(api.pid, ports)

            def starting(ports: list[int]) -> None:
                split["after_warmup"] = spread(api.pid, ports)
                cpu["before"] = tree_cpu_seconds(api.pid), postgres_cpu_seconds()

            def finished(ports: list[int]) -> None:
                cpu["after"] = tree_cpu_seconds(api.pid), postgres_cpu_seconds()
                split["at_end"] = spread(api.pid, ports)

            run = fire("127.0.0.1", PORT, CONCURRENCY, warmup, batch, opened, starting, finished)
        finally:
            stop(api)
    latencies = sorted(run.latencies)
    rps = len(latencies) / run.seconds
    p50, p99 = statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000
    api_ms, pg_ms = (
        (after - before) * 1000 / len(latencies)
        for before, after in zip(cpu["before"], cpu["after"], strict=True)
    )
    save(
        "webhook",
        {
            "requests": len(latencies),
            "concurrency": CONCURRENCY,
            "uvicorn_workers": 2,
            "requests_per_second": round(rps, 1),
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            # Each saturated worker gets an equal share of the CPU, so latency follows how many
            # of the connections the kernel handed it.
            "connections_per_worker": split,
            # Where the two cores went, per request: the API processes and PostgreSQL.
            "cpu_ms_per_request": {"api": round(api_ms, 2), "postgresql": round(pg_ms, 2)},
            "targets": {"requests_per_second_at_least": 300, "p99_ms_under": 150},
        },
        f"{rps:.0f} signed treatment.completed events/s at concurrency {CONCURRENCY}, "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms; connections per worker {shares(split['at_open'])} "
        f"when opened, {shares(split['after_warmup'])} after the warm-up; "
        f"CPU per request: API {api_ms:.1f} ms, PostgreSQL {pg_ms:.1f} ms "
        "(targets: >= 300/s, p99 < 150 ms)",
    )


if __name__ == "__main__":
    main()
