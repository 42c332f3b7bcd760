"""Rate limits at the door, kept in each gateway process's memory.

In memory is deliberate: a shared store (Redis, PostgreSQL) would put a network round trip on
every proxied request. The per-caller API limit is shared between processes after the fact:
each process tells the others every `interval` how many requests of which busy callers it let
through (`LimitGossip`, core NATS), and they take those from their own buckets. A caller
spreading requests over N processes gets the limit plus at most what N processes let through
in one interval, not N times the limit. Failed-login counters stay per process (a guesser
spread over N processes gets N × 5 tries per window before the lockout).
Keys are bounded (old entries are pruned), so a flood of new keys cannot grow memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from tongban.shared.errors import AppError

MAX_KEYS = 100_000


class RateLimited(AppError):
    """429 with `Retry-After` (the gateway's handler adds the header from `retry_after`)."""

    code, status, title = "too_many_requests", 429, "Too many requests"

    def __init__(self, detail: str, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(detail, retry_after=self.retry_after)


class LoginLocked(RateLimited):
    code, title = "login_locked", "Too many failed logins: try again later"


@dataclass
class _Failures:
    count: int
    first_at: float
    locked_until: float = 0.0


class FailureCounter:
    """Failures per key within a window; at `limit` the key is locked for `lockout` seconds."""

    def __init__(self, limit: int, window: float, lockout: float) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self._by_key: dict[str, _Failures] = {}

    def locked_for(self, key: str, now: float) -> float:
        entry = self._by_key.get(key)
        return entry.locked_until - now if entry is not None and entry.locked_until > now else 0.0

    def failed(self, key: str, now: float) -> None:
        entry = self._by_key.get(key)
        if entry is None or now - entry.first_at > self.window:
            if len(self._by_key) >= MAX_KEYS:
                self._prune(now)
            entry = self._by_key[key] = _Failures(0, now)
        entry.count += 1
        if entry.count >= self.limit:
            entry.locked_until = now + self.lockout
            entry.count, entry.first_at = 0, now

    def reset(self, key: str) -> None:
        self._by_key.pop(key, None)

    def _prune(self, now: float) -> None:
        self._by_key = {k: v for k, v in self._by_key.items()
                        if v.locked_until > now or now - v.first_at <= self.window}
        if len(self._by_key) >= MAX_KEYS:
            self._by_key.clear()


class LoginThrottle:
    """Failed logins counted per account (username or client id) and per client address: either
    crossing its limit locks further attempts for a while, right or wrong."""

    def __init__(self, per_account: int, per_ip: int, window: float, lockout: float) -> None:
        self.accounts = FailureCounter(per_account, window, lockout)
        self.addresses = FailureCounter(per_ip, window, lockout)

    def check(self, account: str, ip: str) -> None:
        now = time.monotonic()
        if (wait := self.addresses.locked_for(ip, now)) > 0:
            raise RateLimited("too many failed logins from this address", wait)
        if (wait := self.accounts.locked_for(account, now)) > 0:
            raise LoginLocked("too many failed logins for this account", wait)

    def failed(self, account: str, ip: str) -> None:
        now = time.monotonic()
        self.accounts.failed(account, now)
        self.addresses.failed(ip, now)

    def succeeded(self, account: str) -> None:
        self.accounts.reset(account)


class TokenBuckets:
    """A token bucket per caller: `rate` requests a second on average, bursts up to `burst`.

    Requests that passed are also counted per caller in `used`, for `LimitGossip` to tell the
    other gateway processes (one dictionary increment per request)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self.used: dict[str, int] = {}

    def take(self, key: str) -> float:
        """0 when the request may pass, else the seconds until it would."""
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= MAX_KEYS and key not in self._buckets:
                self._buckets.clear()  # every bucket refills within burst/rate seconds anyway
            self._buckets[key] = (tokens - 1.0, now)
            used = self.used
            used[key] = used.get(key, 0) + 1
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def charge(self, key: str, count: int) -> None:
        """Take `count` tokens for requests another process let through (never below -burst,
        so a caller's wait stays bounded)."""
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if len(self._buckets) >= MAX_KEYS and key not in self._buckets:
            return
        self._buckets[key] = (max(-self.burst, tokens - count), now)

    def tokens(self, key: str) -> float:
        """The caller's tokens now (what a request would find)."""
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def drain_used(self) -> dict[str, int]:
        used, self.used = self.used, {}
        return used
