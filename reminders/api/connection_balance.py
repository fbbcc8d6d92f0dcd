"""Even out keep-alive connections between the API's worker processes.

Each uvicorn worker accepts whatever connections are waiting when it wakes, so a client that
opens many keep-alive connections at once can leave one worker with most of them, and with
them most of the traffic: measured, 25 of 32 on one worker, which then answered three times
slower than the other. Workers publish how many connections they hold; one holding more than
its share answers the next requests on the extra ones with `Connection: close`, and each
client's reconnection lands on whichever worker accepts it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# uvicorn closes a keep-alive connection idle this long (its --timeout-keep-alive default).
KEEP_ALIVE_SECONDS = 5.0
# A worker whose count is older than this has stopped (or hangs): it holds no connections.
STALE_SECONDS = 3.0
CENSUS_EVERY_SECONDS = 0.25


class Balancer:
    """One worker's connections, and how many of them to close to come down to its share."""

    def __init__(self, keep_alive: float = KEEP_ALIVE_SECONDS) -> None:
        self.keep_alive = keep_alive
        self.last_request: dict[tuple[str, int], float] = {}
        self.to_close = 0

    def request(self, client: tuple[str, int] | None, now: float) -> bool:
        """Note a request on the client's connection; True when its response should close it."""
        if client is None:  # not a TCP client (a test transport, a Unix socket)
            return False
        if self.to_close > 0:
            self.to_close -= 1
            self.last_request.pop(client, None)
            return True
        self.last_request[client] = now
        return False

    def held(self, now: float) -> int:
        """The connections that made a request within the keep-alive timeout."""
        expired = [c for c, at in self.last_request.items() if now - at > self.keep_alive]
        for client in expired:
            del self.last_request[client]
        return len(self.last_request)

    def rebalance(self, held: int, others: Iterable[int]) -> None:
        """Close what this worker holds beyond an even share of every live worker's total."""
        counts = [held, *others]
        share = -(-sum(counts) // len(counts))  # rounded up: an odd one out stays put
        self.to_close = max(0, held - share)


class Census:
    """Each worker's connection count on this host, in one Redis hash."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        member: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.key, self.member, self.clock = client, key, member, clock

    def exchange(self, held: int) -> list[int]:
        """Publish this worker's count; the counts of the other live workers ([] on error)."""
        now = self.clock()
        try:
            pipeline = self.client.pipeline(transaction=False)
            pipeline.hset(self.key, self.member, f"{held} {now}")
            pipeline.expire(self.key, int(STALE_SECONDS * 10))
            pipeline.hgetall(self.key)
            found: dict[bytes, bytes] = pipeline.execute()[-1]
            others, gone = [], []
            for member, value in found.items():
                if member.decode() == self.member:
                    continue
                published = parse_count(value, now)
                if published is None:
                    gone.append(member)
                else:
                    others.append(published)
            if gone:
                self.client.hdel(self.key, *gone)
        except (redis.RedisError, OSError) as exc:
            # Balancing is an optimisation: without Redis every worker keeps what it accepted.
            log.debug("connection census skipped: %s", exc)
            return []
        return others


def parse_count(value: bytes, now: float) -> int | None:
    """A worker's published "count time", or None when it is stale or unreadable."""
    try:
        count, at = value.decode().split(" ")
        return None if now - float(at) > STALE_SECONDS else int(count)
    except ValueError:
        return None


def census_for(client: redis.Redis, prefix: str, port: int) -> Census:
    """This worker's place in the census of the workers serving this host's port."""
    key = f"{prefix}api:connections:{socket.gethostname()}:{port}"
    return Census(client, key, str(os.getpid()))


async def take_census(
    balancer: Balancer,
    census: Census,
    every: float = CENSUS_EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Publish and rebalance every `every` seconds, until cancelled (the app's lifespan)."""
    while True:
        held = balancer.held(clock())
        others = await anyio.to_thread.run_sync(census.exchange, held)
        balancer.rebalance(held, others)
        await anyio.sleep(every)


class ConnectionBalance:
    """ASGI middleware: close a connection after its response when the Balancer says so."""

    def __init__(
        self, app: ASGIApp, balancer: Balancer, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app, self.balancer, self.clock = app, balancer, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.balancer.request(peer(scope), self.clock()):
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


def peer(scope: Scope) -> tuple[str, int] | None:
    """The client's address; some ASGI servers give it as a list."""
    client = scope.get("client")
    return None if not client else (str(client[0]), int(client[1]))
