"""API workers even out their keep-alive connections by closing the extra ones."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis

from bench.loadgen import Lanes
from reminders.api.connection_balance import (
    STALE_SECONDS,
    Balancer,
    Census,
    ConnectionBalance,
    take_census,
)
from tests.harness import service_env
from tests.test_commands import BIN, free_port, served_api

A, B, C = ("10.0.0.1", 1001), ("10.0.0.1", 1002), ("10.0.0.2", 1001)


def balancer_holding(*clients: tuple[str, int], at: float = 0.0) -> Balancer:
    balancer = Balancer(keep_alive=5.0)
    for client in clients:
        assert balancer.request(client, at) is False
    return balancer


def test_a_worker_counts_the_connections_that_made_a_request_within_the_keep_alive() -> None:
    balancer = balancer_holding(A, B)
    balancer.request(C, 4.0)
    assert balancer.held(4.0) == 3
    assert balancer.held(5.5) == 1  # A and B have been idle past the keep-alive timeout


def test_a_worker_over_its_share_closes_its_extra_connections_one_request_each() -> None:
    balancer = balancer_holding(A, B, C)
    balancer.rebalance(held=3, others=[1])  # 4 connections, 2 workers: a share of 2
    assert balancer.request(A, 1.0) is True
    assert balancer.request(B, 1.0) is False  # one closed; the rest stay
    assert balancer.held(1.0) == 2  # B and C: A's connection is gone


def test_an_even_or_nearly_even_split_closes_nothing() -> None:
    balancer = balancer_holding(A, B, C)
    for held, others in ((3, [3]), (3, [2]), (3, [2, 2]), (3, [])):
        balancer.rebalance(held, others)
        assert balancer.to_close == 0, (held, others)


def test_a_worker_with_most_connections_closes_down_to_its_rounded_up_share() -> None:
    balancer = Balancer()
    balancer.rebalance(held=25, others=[7])
    assert balancer.to_close == 9
    balancer.rebalance(held=25, others=[0, 0])  # a share of 9 (25 / 3 rounded up)
    assert balancer.to_close == 16


def test_a_request_without_a_tcp_client_is_never_closed() -> None:
    balancer = Balancer()
    balancer.rebalance(held=5, others=[0])
    assert balancer.request(None, 0.0) is False
    assert balancer.to_close == 2  # still owed to requests over TCP


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def census_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_workers_see_each_others_counts_but_not_their_own(
    census_client: redis.Redis, key_prefix: str
) -> None:
    clock = Clock(1000.0)
    key = f"{key_prefix}api:connections:host"
    first, second = Census(census_client, key, "1", clock), Census(census_client, key, "2", clock)
    assert first.exchange(12) == []
    assert second.exchange(20) == [12]
    assert first.exchange(13) == [20]


def test_a_worker_that_stopped_publishing_is_forgotten(
    census_client: redis.Redis, key_prefix: str
) -> None:
    clock = Clock(1000.0)
    key = f"{key_prefix}api:connections:host"
    Census(census_client, key, "gone", clock).exchange(30)
    alive = Census(census_client, key, "alive", clock)
    clock.now += STALE_SECONDS + 1
    assert alive.exchange(2) == []
    assert census_client.hkeys(key) == [b"alive"]


def test_an_unreadable_entry_is_dropped_rather_than_stopping_the_census(
    census_client: redis.Redis, key_prefix: str
) -> None:
    key = f"{key_prefix}api:connections:host"
    census_client.hset(key, "odd", "many")
    assert Census(census_client, key, "1", Clock(1000.0)).exchange(4) == []
    assert census_client.hkeys(key) == [b"1"]


def test_without_redis_a_worker_keeps_what_it_has() -> None:
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    assert Census(unreachable, "k", "1").exchange(30) == []


class FixedCensus:
    def __init__(self, others: list[int]) -> None:
        self.others = others
        self.published: list[int] = []

    def exchange(self, held: int) -> list[int]:
        self.published.append(held)
        return self.others


def test_the_census_loop_publishes_this_workers_count_and_rebalances() -> None:
    balancer = balancer_holding(A, B, C, at=10.0)
    census = FixedCensus(others=[1])

    async def one_round() -> None:
        with anyio.move_on_after(0.2):
            await take_census(balancer, census, every=1.0, clock=lambda: 10.0)  # type: ignore[arg-type]

    anyio.run(one_round)
    assert census.published == [3]
    assert balancer.to_close == 1


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


def response_headers(middleware: ConnectionBalance, client: tuple[str, int]) -> list[Any]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "client": client, "path": "/", "method": "GET", "headers": []}
    anyio.run(middleware, scope, receive, send)
    return list(sent[0]["headers"])


def test_the_middleware_adds_connection_close_only_where_the_balancer_says() -> None:
    balancer = balancer_holding(A, B)
    balancer.rebalance(held=2, others=[0])
    middleware = ConnectionBalance(answer, balancer, clock=lambda: 0.0)
    assert response_headers(middleware, A) == [(b"x-app", b"1"), (b"connection", b"close")]
    assert response_headers(middleware, B) == [(b"x-app", b"1")]


def test_the_middleware_reads_a_client_address_given_as_a_list() -> None:
    balancer = balancer_holding(A)
    middleware = ConnectionBalance(answer, balancer, clock=lambda: 1.0)
    response_headers(middleware, list(B))  # type: ignore[arg-type]
    assert balancer.held(1.0) == 2


HEALTH = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


def reconnections_over(port: int, lanes: int, seconds: float) -> int:
    """How often a server asked keep-alive clients to reconnect while they kept it busy."""

    async def keep_busy() -> int:
        client = Lanes("127.0.0.1", port)
        await client.open(lanes)
        total, deadline = 0, time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                total += (await client.run([HEALTH] * lanes * 20)).reconnections
        finally:
            client.close()
        return total

    return asyncio.run(keep_busy())


@pytest.fixture(params=["on"])
def api_port(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, key_prefix: str
) -> Iterator[int]:
    env = service_env(f"sqlite:///{tmp_path / 'api.db'}", redis_url, key_prefix, tmp_path)
    env["REMINDERS_API_BALANCE_CONNECTIONS"] = "true" if request.param == "on" else "false"
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    with served_api(env, tmp_path / "api.log") as port:
        yield port


def test_a_lone_api_worker_never_asks_clients_to_reconnect(api_port: int) -> None:
    assert reconnections_over(api_port, lanes=6, seconds=1.5) == 0


@contextmanager
def idle_peer(redis_url: str, key: str) -> Iterator[None]:
    """A second worker on the same port that holds nothing, as the census would show it."""
    client = redis.Redis.from_url(redis_url)
    stop = threading.Event()

    def publish() -> None:
        while not stop.is_set():
            client.hset(key, "idle-peer", f"0 {time.time()}")
            stop.wait(0.1)

    peer = threading.Thread(target=publish)
    peer.start()
    try:
        yield
    finally:
        stop.set()
        peer.join()
        client.close()


def test_an_api_worker_with_more_than_its_share_asks_clients_to_reconnect(
    api_port: int, redis_url: str, key_prefix: str
) -> None:
    key = f"{key_prefix}api:connections:{socket.gethostname()}:{api_port}"
    with idle_peer(redis_url, key):
        # Six connections on one of two workers: three over its share, again after each
        # reconnection lands back on it (there is no real second worker to take them).
        assert reconnections_over(api_port, lanes=6, seconds=1.5) >= 3


@pytest.mark.parametrize("api_port", ["off"], indirect=True)
def test_with_balancing_turned_off_a_worker_keeps_every_connection(
    api_port: int, redis_url: str, key_prefix: str
) -> None:
    key = f"{key_prefix}api:connections:{socket.gethostname()}:{api_port}"
    with idle_peer(redis_url, key):
        assert reconnections_over(api_port, lanes=6, seconds=1.5) == 0
