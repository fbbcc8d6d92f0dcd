"""Start a service process on a free port and wait until it answers: shared by test modules."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.harness import BIN, ServiceProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout}s")


@contextmanager
def served_api(env: dict[str, str], log: Path) -> Iterator[int]:
    """`reminders api` on a free port, answering /healthz; yields the port."""
    port = free_port()
    api = ServiceProcess([str(BIN / "reminders"), "api", "--port", str(port)], env, log)
    try:
        api.start()
        wait_ready(f"http://127.0.0.1:{port}/healthz", api.process)
        yield port
    finally:
        api.stop()
