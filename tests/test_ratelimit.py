"""The shared per-sender rate limit, against a real Redis."""

from __future__ import annotations

import pytest
import redis

from reminders.delivery.throttle import LimiterUnavailableError, RedisRateLimiter


def test_a_sender_gets_at_most_one_second_of_sends_at_once_then_waits(
    redis_url: str, key_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), per_second=10, prefix=key_prefix)
    first = limiter.acquire("+15550001111", 25)
    second = limiter.acquire("+15550001111", 5)
    assert first.granted == 10
    assert second.granted == 0
    assert 0 < second.retry_after <= 0.11


def test_two_limiters_share_one_budget_per_sender(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    worker_a = RedisRateLimiter(client, per_second=4, prefix=key_prefix)
    worker_b = RedisRateLimiter(redis.Redis.from_url(redis_url), per_second=4, prefix=key_prefix)
    taken = worker_a.acquire("MG123", 3).granted + worker_b.acquire("MG123", 3).granted
    assert taken == 4


def test_senders_do_not_share_a_budget(redis_url: str, key_prefix: str) -> None:
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), per_second=2, prefix=key_prefix)
    assert limiter.acquire("sender-a", 2).granted == 2
    assert limiter.acquire("sender-b", 2).granted == 2


def test_an_unreachable_redis_is_one_clear_error() -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    limiter = RedisRateLimiter(dead, per_second=10)
    with pytest.raises(LimiterUnavailableError, match="rate limiter unavailable"):
        limiter.acquire("+15550001111", 1)
