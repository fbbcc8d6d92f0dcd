"""The fake Twilio server itself: faults by rule and chance, signed callbacks, subprocess mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from reminders.channels.twilio_transport import RebasedHttpClient
from tests.fakes.twilio_remote import start_fake_twilio_process
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio

TO = "+15551230001"


def client_for(base_url: str) -> Client:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(base_url, 5))


def outcomes(client: Client, count: int) -> list[str]:
    results = []
    for i in range(count):
        try:
            client.messages.create(to=TO, from_=FROM, body=f"m{i}")
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - the outcome is what we record
            results.append(type(exc).__name__)
    return results


def test_probabilistic_faults_repeat_exactly_with_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        with FakeTwilio(seed=42) as fake:
            fake.fail(500, probability=0.3)
            runs.append(outcomes(client_for(fake.base_url), 30))
    assert runs[0] == runs[1]
    assert 0 < runs[0].count("ok") < 30


def test_a_limited_fault_fires_only_its_number_of_times(fake_twilio) -> None:
    fake_twilio.fail(429, 20429, times=2)
    assert outcomes(client_for(fake_twilio.base_url), 3) == [
        "TwilioRestException",
        "TwilioRestException",
        "ok",
    ]
    assert fake_twilio.sends_to(TO) == 1


def test_error_bodies_look_like_twilio_errors(fake_twilio) -> None:
    fake_twilio.fail(400, 21211)
    with pytest.raises(Exception) as caught:
        client_for(fake_twilio.base_url).messages.create(to=TO, from_=FROM, body="x")
    error = caught.value
    assert (error.status, error.code) == (400, 21211)  # type: ignore[attr-defined]
    assert "not a valid phone number" in error.msg  # type: ignore[attr-defined]


def test_the_messages_list_filters_by_recipient_and_pages(fake_twilio) -> None:
    client = client_for(fake_twilio.base_url)
    for i in range(5):
        client.messages.create(to=TO, from_=FROM, body=f"m{i}")
    client.messages.create(to="+15551239999", from_=FROM, body="other")
    listed = client.messages.list(to=TO, page_size=2)
    assert sorted(m.body for m in listed) == [f"m{i}" for i in range(5)]


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], str]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        Receiver.received.append((url, form, self.headers["X-Twilio-Signature"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_status_callbacks_are_signed_the_way_twilio_signs_them(fake_twilio, receiver) -> None:
    callback = f"{receiver}/v1/twilio/status?message_id=5"
    sent = client_for(fake_twilio.base_url).messages.create(
        to=TO, from_=FROM, body="x", status_callback=callback
    )
    assert fake_twilio.post_status(sent.sid, "undelivered", error_code=30005) == 204
    [(url, form, signature)] = Receiver.received
    assert url == callback
    assert form["MessageSid"] == sent.sid
    assert (form["MessageStatus"], form["ErrorCode"]) == ("undelivered", "30005")
    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature)
    assert not RequestValidator("another-token").validate(url, form, signature)


def test_the_fake_runs_as_a_subprocess_driven_by_its_control_api(receiver) -> None:
    process, remote = start_fake_twilio_process(seed=1)
    try:
        client = client_for(remote.base_url)
        remote.fail(429, 20429, times=1)
        callback = f"{receiver}/s?message_id=3"
        with pytest.raises(Exception):  # noqa: B017 - the first request is refused by rule
            client.messages.create(to=TO, from_=FROM, body="x", status_callback=callback)
        sent = client.messages.create(to=TO, from_=FROM, body="x", status_callback=callback)
        assert remote.attempts_for(3) == 2
        assert remote.sends_for(3) == 1
        assert remote.sends_by_message_id() == {3: 1}
        assert remote.sends_to(TO, "x") == 1
        assert remote.post_status(sent.sid, "delivered") == 204
        assert Receiver.received[0][1]["MessageStatus"] == "delivered"
        remote.reset()
        assert remote.messages() == []
    finally:
        remote.close()
        process.terminate()
        process.wait(timeout=10)


def test_auto_status_posts_a_signed_callback_for_every_accepted_message(
    fake_twilio, receiver
) -> None:
    fake_twilio.auto_status("delivered")
    client = client_for(fake_twilio.base_url)
    callback = f"{receiver}/v1/twilio/status?message_id=8"
    sent = client.messages.create(to=TO, from_=FROM, body="x", status_callback=callback)
    deadline = time.monotonic() + 20
    while not Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    [(url, form, signature)] = Receiver.received
    assert (form["MessageSid"], form["MessageStatus"]) == (sent.sid, "delivered")
    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature)


def test_requests_without_valid_credentials_are_refused_like_twilio_does(fake_twilio) -> None:
    response = httpx.post(f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert response.status_code == 401
    assert response.json()["code"] == 20003
