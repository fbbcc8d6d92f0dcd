"""Failed dashboard logins counted in Redis, per account and per client address.

A fixed window: the first failure starts a counter that expires after the window; once a
counter reaches the limit, logins for that account (or from that address) are refused without
checking the password until it expires. Shared by every API process through Redis.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginLimiter:
    """Counts failures; `blocked` says when an account or address has had too many."""

    client: redis.Redis
    prefix: str
    attempts: int
    window_seconds: int

    def _keys(self, username: str, address: str) -> list[str]:
        # Hashed: a username typed by anyone is not worth keeping verbatim in Redis.
        user = hashlib.sha256(username.encode()).hexdigest()[:24]
        return [f"{self.prefix}login:user:{user}", f"{self.prefix}login:addr:{address}"]

    def blocked(self, username: str, address: str) -> int:
        """Seconds until a login may be tried again (0: it may be tried now)."""
        try:
            wait = 0
            for key in self._keys(username, address):
                count = self.client.get(key)
                if count is not None and int(count) >= self.attempts:
                    wait = max(wait, int(self.client.ttl(key)), 1)
            return wait
        except (redis.RedisError, OSError) as exc:
            # Fail open: argon2 already makes each guess slow, and Redis down must not lock
            # every operator out of the dashboard that shows Redis is down.
            log.warning("login rate limit not checked, Redis unavailable: %s", exc)
            return 0

    def failed(self, username: str, address: str) -> None:
        """Count one failed login for the account and for the address."""
        try:
            with self.client.pipeline() as pipe:
                for key in self._keys(username, address):
                    pipe.set(key, 0, ex=self.window_seconds, nx=True)
                    pipe.incr(key)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("failed login not counted, Redis unavailable: %s", exc)

    def succeeded(self, username: str) -> None:
        """A right password clears the account's count (never the address's)."""
        try:
            self.client.delete(self._keys(username, "")[0])
        except (redis.RedisError, OSError) as exc:
            log.warning("login count not cleared, Redis unavailable: %s", exc)
