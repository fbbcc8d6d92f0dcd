"""A lean HTTP/1.1 load generator: keep-alive connections writing pre-built requests.

The load runs on the same two cores as the server, so it must cost little: httpx spent about
4 ms of CPU per request here, more than a third of what the server spent answering it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def post_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of one keep-alive POST, built before the clock starts."""
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Response:
    """What a lane needs of one response."""

    status: int
    body: bytes
    closing: bool  # the server closes the connection after it (`Connection: close`)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One response (Content-Length framed, as uvicorn answers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length, closing = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            closing = value.strip().lower() == b"close"
    return Response(int(head[9:12]), await reader.readexactly(length), closing)


@dataclass
class Run:
    """Each request's latency and the run's time, in seconds; how often a lane reconnected."""

    latencies: list[float]
    seconds: float
    reconnections: int


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Ports = Callable[[list[int]], None]


def ignore(_ports: list[int]) -> None:
    """The default for fire's callbacks."""


class Lanes:
    """Keep-alive connections to one server, each sending one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.connections: list[Connection] = []

    async def open(self, count: int) -> None:
        """Open `count` connections, one after another."""
        for _ in range(count):
            self.connections.append(await asyncio.open_connection(self.host, self.port))

    async def run(self, requests: Sequence[bytes]) -> Run:
        """Send every request over the lanes; RuntimeError on the first answer that is not 2xx.

        A lane whose answer says `Connection: close` opens a new connection for its next
        request, inside that request's time, as any HTTP client would.
        """
        pending = list(reversed(requests))
        run = Run([], 0.0, 0)

        async def lane(number: int) -> None:
            reader, writer = self.connections[number]
            while pending:
                request = pending.pop()
                started = time.perf_counter()
                if writer.is_closing():
                    run.reconnections += 1
                    connection = await asyncio.open_connection(self.host, self.port)
                    reader, writer = self.connections[number] = connection
                writer.write(request)
                response = await read_response(reader)
                run.latencies.append(time.perf_counter() - started)
                if not 200 <= response.status < 300:
                    raise RuntimeError(f"{response.status}: {response.body[:300]!r}")
                if response.closing:
                    writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(lane(number) for number in range(len(self.connections))))
        run.seconds = time.perf_counter() - started
        return run

    def ports(self) -> list[int]:
        """The local port of each open connection."""
        return [w.get_extra_info("sockname")[1] for _r, w in self.connections if not w.is_closing()]

    def close(self) -> None:
        """Close every connection."""
        for _reader, writer in self.connections:
            writer.close()


def fire(
    host: str,
    port: int,
    concurrency: int,
    warmup: Sequence[bytes],
    requests: Sequence[bytes],
    opened: Ports = ignore,
    starting: Ports = ignore,
    finished: Ports = ignore,
) -> Run:
    """Warm up, then measure `requests` over the same `concurrency` keep-alive connections.

    The callbacks get the connections' local ports once they are open, between the two runs,
    and after the last answer; none counts in the run's time.
    """

    async def both() -> Run:
        lanes = Lanes(host, port)
        try:
            await lanes.open(concurrency)
            opened(lanes.ports())
            await lanes.run(warmup)
            starting(lanes.ports())
            run = await lanes.run(requests)
            finished(lanes.ports())
            return run
        finally:
            lanes.close()

    return asyncio.run(both())
