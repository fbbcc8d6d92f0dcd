"""A lean HTTP/1.1 load generator: keep-alive connections writing pre-built requests.

The load runs on the same two cores as the server, so it must cost little: httpx spent about
4 ms of CPU per request here, more than a third of what the server spent answering it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence


def post_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of one keep-alive POST, built before the clock starts."""
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one response (Content-Length framed, as uvicorn answers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def run_lanes(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    opened: Callable[[list[int]], None] = lambda _ports: None,
) -> list[float]:
    """Send every request over `concurrency` connections; each latency in seconds.

    `opened` gets the connections' local ports once all are open, before the first request.
    Raises RuntimeError on the first answer that is not 2xx.
    """
    pending = list(reversed(requests))
    latencies: list[float] = []
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    opened([writer.get_extra_info("sockname")[1] for _reader, writer in connections])

    async def lane(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while pending:
                request = pending.pop()
                started = time.perf_counter()
                writer.write(request)
                status, body = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                if not 200 <= status < 300:
                    raise RuntimeError(f"{status}: {body[:300]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(lane(reader, writer) for reader, writer in connections))
    return latencies


def fire(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    opened: Callable[[list[int]], None] = lambda _ports: None,
) -> list[float]:
    """run_lanes on a fresh event loop."""
    return asyncio.run(run_lanes(host, port, requests, concurrency, opened))
