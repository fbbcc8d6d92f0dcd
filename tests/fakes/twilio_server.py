"""A fake Twilio REST API on 127.0.0.1, spoken to by the real `twilio` client.

In-process:   `with FakeTwilio() as fake: ...` (or the `fake_twilio` pytest fixture).
Subprocess:   `python -m tests.fakes.twilio_server --port N` (prints `listening on URL`);
              drive it with tests.fakes.twilio_remote: `RemoteFakeTwilio(url)`, or
              `start_fake_twilio_process()` which starts it and returns both.
Both controls have the same methods: fail(), hold(), drop(), clear_faults(), reset(),
auto_status(), post_status(), sends_for(), sends_to(), sends_by_message_id(), attempts_for(),
messages(), env().
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from tests.fakes.twilio_callbacks import post_status
from tests.fakes.twilio_http import FakeTwilioHTTPServer, public
from tests.fakes.twilio_state import Fault, TwilioState

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token"
FROM = "+15005550006"


def twilio_env(base_url: str, account_sid: str, auth_token: str) -> dict[str, str]:
    """REMINDERS_TWILIO_* variables that point the app at this fake."""
    return {
        "REMINDERS_TWILIO_API_BASE": base_url,
        "REMINDERS_TWILIO_ACCOUNT_SID": account_sid,
        "REMINDERS_TWILIO_AUTH_TOKEN": auth_token,
        "REMINDERS_TWILIO_FROM": FROM,
    }


class FakeTwilio:
    """The fake server running on a thread of this process."""

    def __init__(
        self,
        port: int = 0,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        seed: int | None = None,
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.state = TwilioState(seed)
        self.server = FakeTwilioHTTPServer(port, self.state, account_sid, auth_token)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Release held responses, stop serving and close the socket."""
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def env(self) -> dict[str, str]:
        """REMINDERS_TWILIO_* variables pointing at this fake."""
        return twilio_env(self.base_url, self.account_sid, self.auth_token)

    def add_subaccount(self, account_sid: str, auth_token: str) -> None:
        """Accept this subaccount's credentials on its own Messages URLs."""
        self.server.subaccounts[account_sid] = auth_token

    def fail(self, status: int = 500, code: int | None = None, **rule: Any) -> Fault:
        """Answer errors by rule: e.g. fail(429, 20429, times=2) or fail(500, probability=.1)."""
        fault = Fault(status=status, code=code, **rule)
        self.state.add_fault(fault)
        return fault

    def hold(self, seconds: float, **rule: Any) -> Fault:
        """Record the message, then hold the answer `seconds` (longer than the client timeout)."""
        fault = Fault(status=201, hold_seconds=seconds, **rule)
        self.state.add_fault(fault)
        return fault

    def drop(self, **rule: Any) -> Fault:
        """Record the message, then close the connection without answering."""
        fault = Fault(status=0, drop=True, **rule)
        self.state.add_fault(fault)
        return fault

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def reset(self, seed: int | None = None) -> None:
        self.state.reset(seed)
        self.server.auto_status = None

    def auto_status(self, status: str | None) -> None:
        """Post this status callback (e.g. 'delivered') for every accepted message."""
        self.server.auto_status = status

    def post_status(
        self, sid: str, status: str, error_code: int | None = None, url: str | None = None
    ) -> int:
        """POST a signed status callback for message `sid`; returns the receiver's status."""
        message = self.state.get(sid)
        if message is None:
            raise KeyError(sid)
        return post_status(message, status, self.auth_token, error_code, url)

    def sends_for(self, message_id: int) -> int:
        return self.state.sends_for(message_id)

    def sends_to(self, to: str, body: str | None = None) -> int:
        return self.state.sends_to(to, body)

    def sends_by_message_id(self) -> dict[int, int]:
        return self.state.sends_by_message_id()

    def attempts_for(self, message_id: int) -> int:
        return self.state.attempts_for(message_id)

    def messages(self) -> list[dict[str, Any]]:
        return [public(m) for m in self.state.snapshot()]


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; the first stdout line is `listening on http://127.0.0.1:PORT`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--account-sid", default=ACCOUNT_SID)
    parser.add_argument("--auth-token", default=AUTH_TOKEN)
    args = parser.parse_args(argv)
    fake = FakeTwilio(args.port, args.account_sid, args.auth_token, args.seed)
    print(f"listening on {fake.base_url}", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.server.server_close()


if __name__ == "__main__":
    main()
