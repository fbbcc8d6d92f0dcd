"""Drive a fake Twilio server running in another process, through its /_fake/ endpoints."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, twilio_env
from tests.fakes.twilio_state import Fault

ROOT = Path(__file__).resolve().parents[2]


class RemoteFakeTwilio:
    """Controls a fake running in another process, through its /_fake/ endpoints."""

    def __init__(
        self, base_url: str, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN
    ) -> None:
        self.base_url, self.account_sid, self.auth_token = base_url, account_sid, auth_token
        self._http = httpx.Client(base_url=base_url, timeout=10)

    def _post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=data)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def env(self) -> dict[str, str]:
        return twilio_env(self.base_url, self.account_sid, self.auth_token)

    def fail(self, status: int = 500, code: int | None = None, **rule: Any) -> None:
        self._post("/_fake/faults", asdict(Fault(status=status, code=code, **rule)))

    def hold(self, seconds: float, **rule: Any) -> None:
        self._post("/_fake/faults", asdict(Fault(status=201, hold_seconds=seconds, **rule)))

    def drop(self, **rule: Any) -> None:
        self._post("/_fake/faults", asdict(Fault(status=0, drop=True, **rule)))

    def clear_faults(self) -> None:
        self._http.delete("/_fake/faults").raise_for_status()

    def reset(self, seed: int | None = None) -> None:
        self._post("/_fake/reset", {"seed": seed})

    def auto_status(self, status: str | None) -> None:
        self._post("/_fake/auto_status", {"status": status})

    def post_status(
        self, sid: str, status: str, error_code: int | None = None, url: str | None = None
    ) -> int:
        data = {"sid": sid, "status": status, "error_code": error_code, "url": url}
        return int(self._post("/_fake/status", data)["callback_status"])

    def counts(self) -> dict[str, Any]:
        """{"requests": n, "sends": {id: n}, "attempts": {id: n}} (ids as strings)."""
        response = self._http.get("/_fake/counts")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def sends_for(self, message_id: int) -> int:
        return int(self.counts()["sends"].get(str(message_id), 0))

    def sends_to(self, to: str, body: str | None = None) -> int:
        return sum(1 for m in self.messages() if m["to"] == to and body in (None, m["body"]))

    def sends_to_after(self, to: str, moment: float) -> int:
        """Messages to `to` the fake accepted after `moment` (time.time() seconds)."""
        return sum(1 for m in self.messages() if m["to"] == to and m["accepted_at"] > moment)

    def sends_by_message_id(self) -> dict[int, int]:
        return {int(k): v for k, v in self.counts()["sends"].items()}

    def attempts_for(self, message_id: int) -> int:
        return int(self.counts()["attempts"].get(str(message_id), 0))

    def messages(self) -> list[dict[str, Any]]:
        response = self._http.get("/_fake/messages")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def close(self) -> None:
        self._http.close()


def start_fake_twilio_process(
    port: int = 0, seed: int | None = None
) -> tuple[subprocess.Popen[str], RemoteFakeTwilio]:
    """Run the fake as a subprocess; returns it and its control once it listens."""
    argv = [sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(port)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"fake Twilio did not start: {line!r}")
    return process, RemoteFakeTwilio(line.removeprefix("listening on "))
