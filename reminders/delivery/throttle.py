"""A per-sender send rate shared by every worker: GCRA in one Redis Lua script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import redis

# Redis' own clock keeps every worker on one timeline; the script grants up to `want` tokens
# at once so a batch costs one round trip.
GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local room = math.floor((now - tat) / interval + burst + 1e-9)
local granted = math.max(0, math.min(want, room))
local new_tat = tat + granted * interval
if granted > 0 then
  local ttl = math.ceil((new_tat - now + burst * interval) * 1000) + 1000
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
end
local wait = new_tat + interval - burst * interval - now
if wait < 0 then wait = 0 end
return {granted, tostring(wait)}
"""


class LimiterUnavailableError(Exception):
    """The shared limiter cannot be asked (Redis is down): nothing may be sent now."""


@dataclass(frozen=True)
class Grant:
    """How many sends may go now, and how long until the next one may."""

    granted: int
    retry_after: float


class Limiter(Protocol):
    """Anything that rations sends per sender."""

    def acquire(self, sender: str, want: int) -> Grant:
        """Take up to `want` send slots for this sender."""
        ...


class RedisRateLimiter:
    """Messages per second per sender (a Twilio number or Messaging Service), across workers."""

    def __init__(self, client: Any, per_second: float, prefix: str = "reminders:") -> None:
        if per_second <= 0:
            raise ValueError("per_second must be greater than 0")
        self._script = client.register_script(GCRA)
        self._interval = 1.0 / per_second
        # Allow one second's worth at once, so batches are not split needlessly.
        self._burst = max(1.0, per_second)
        self._prefix = prefix

    def acquire(self, sender: str, want: int) -> Grant:
        """Take up to `want` slots; the rest must wait `retry_after` seconds."""
        if want <= 0:
            return Grant(0, 0.0)
        key = f"{self._prefix}ratelimit:{sender}"
        try:
            granted, wait = self._script(keys=[key], args=[self._interval, self._burst, want])
        except redis.RedisError as exc:
            raise LimiterUnavailableError(f"rate limiter unavailable: {exc}") from exc
        return Grant(int(granted), float(wait))


class Unlimited:
    """No rate limit (tests and the console channel)."""

    def acquire(self, sender: str, want: int) -> Grant:
        """Grant everything."""
        return Grant(max(want, 0), 0.0)
