"""Rate limits at the door, kept in each gateway process's memory.

In memory is deliberate: a shared store (Redis, PostgreSQL) would put a network round trip on
every proxied request. The per-caller API limit is shared between processes after the fact:
each process tells the others every `interval` how many requests of which busy callers it let
through (`LimitGossip`, core NATS), and they take those from their own buckets. A caller
spreading requests over N processes gets the limit plus at most what N processes let through
in one interval, not N times the limit. Failed logins are the exception: they are counted in the
database (`LoginThrottle`), where every process sees the same counts.
Keys are bounded (old entries are pruned), so a flood of new keys cannot grow memory.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from fastapi import Request
from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.protection.models import LoginFailure
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


class LoginThrottle:
    """Failed logins counted three ways, each row of the gateway's database (`login_failure`,
    written with the database's clock, so every gateway process sees the same counts and a lock
    outlives a restart):

    - per account and address (`pair:<account>|<address>`): a back-off. The first `free` failures
      cost nothing; each one after locks that pair for `backoff` seconds, doubling up to
      `lockout`. Counting restarts after a quiet window. A guesser at one address is slowed to a
      crawl; the owner elsewhere is not touched by it.
    - per account from every address: `per_account` failures in the window lock the account for
      `account_lockout` only (a minute by default): a guesser spread over many addresses is slowed,
      and the owner, wherever she is, waits at most that long. (Five wrong passwords used to lock
      any username for 15 minutes: a weapon against its owner.)
    - per address over every account (`ip:<address>`): `per_ip` failures lock the address for
      `lockout`.

    The address is the peer, or what a trusted proxy in front says (GATEWAY_TRUSTED_PROXIES): a
    client cannot become a new address by writing a new X-Forwarded-For. A login costs an argon2
    hash already; the short statements beside it cost far less."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], per_account: int, per_ip: int,
                 window: float, lockout: float, *, free_per_address: int = 3, backoff: float = 1.0,
                 account_lockout: float = 60.0, registrations_per_ip: int = 5,
                 registration_window: float = 3600.0) -> None:
        self.sessionmaker = sessionmaker
        self.registrations_per_ip = registrations_per_ip
        self.registration_window = dt.timedelta(seconds=registration_window)
        self.limits = {"account": per_account, "ip": per_ip}
        self.window = dt.timedelta(seconds=window)
        self.lockout = dt.timedelta(seconds=lockout)
        self.account_lockout = dt.timedelta(seconds=account_lockout)
        self.free = max(1, free_per_address)
        self.backoff = backoff
        self.backoff_max = lockout

    @staticmethod
    def _pair(account: str, ip: str) -> str:
        return f"pair:{account}|{ip}"

    async def check(self, account: str, ip: str) -> None:
        address, pair = f"ip:{ip}", self._pair(account, ip)
        async with self.sessionmaker() as session:
            rows = (await session.execute(
                select(LoginFailure.key, func.extract("epoch", LoginFailure.locked_until - func.now()))
                .where(LoginFailure.key.in_([account, address, pair]), LoginFailure.locked_until > func.now()))).all()
        waits = {key: float(wait) for key, wait in rows}
        if address in waits:
            raise RateLimited("too many failed logins from this address", waits[address])
        if pair in waits:
            raise LoginLocked("too many failed logins for this account from this address", waits[pair])
        if account in waits:
            raise LoginLocked("too many failed logins for this account", waits[account])

    async def failed(self, account: str, ip: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(self._back_off(self._pair(account, ip)))
            await session.execute(self._count(account, self.limits["account"], self.account_lockout))
            await session.execute(self._count(f"ip:{ip}", self.limits["ip"], self.lockout))
            # Forget rows whose window and lockout are both over (the index on window_start finds them).
            await session.execute(delete(LoginFailure).where(
                LoginFailure.window_start < func.now() - self.window,
                or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until < func.now())))

    async def registering(self, ip: str) -> None:
        """Count a self-registration from this address (each costs an argon2 hash and a row):
        `registrations_per_ip` per window pass, then the address waits for the window to end."""
        key = f"register:{ip}"
        async with self.sessionmaker() as session, session.begin():
            wait = (await session.execute(
                select(func.extract("epoch", LoginFailure.locked_until - func.now()))
                .where(LoginFailure.key == key, LoginFailure.locked_until > func.now()))).scalar()
            if wait is None:
                await session.execute(self._count(key, self.registrations_per_ip, self.registration_window))
        if wait is not None:
            raise RateLimited("too many registrations from this address", float(wait))

    async def succeeded(self, account: str, ip: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(delete(LoginFailure).where(
                LoginFailure.key.in_([account, self._pair(account, ip)])))

    def _count(self, key: str, limit: int, lockout: dt.timedelta) -> Any:
        """One more failure for `key`, in one statement: a new window when the old one is over;
        at the limit, the lockout starts and the count begins again."""
        now = func.now()
        table = LoginFailure.__table__
        stale = table.c.window_start < now - self.window
        count = case((stale, 1), else_=table.c.failures + 1)
        reached = count >= limit
        insert = pg_insert(LoginFailure).values(
            key=key, failures=0 if limit <= 1 else 1, window_start=now,
            locked_until=now + lockout if limit <= 1 else None)
        return insert.on_conflict_do_update(index_elements=[table.c.key], set_={
            "failures": case((reached, 0), else_=count),
            "window_start": case((or_(stale, reached), now), else_=table.c.window_start),
            "locked_until": case((reached, now + lockout), else_=table.c.locked_until),
        })

    def _back_off(self, key: str) -> Any:
        """One more failure of an account at one address: from the `free`-th on, a lock of
        `backoff` × 2^(failures − free) seconds, at most `lockout`. The window slides: counting
        restarts only after a window without failures."""
        now = func.now()
        table = LoginFailure.__table__
        stale = table.c.window_start < now - self.window
        count = case((stale, 1), else_=table.c.failures + 1)
        seconds = func.least(self.backoff_max, self.backoff * func.power(2.0, func.least(count - self.free, 30)))
        lock = case((count >= self.free, now + func.make_interval(0, 0, 0, 0, 0, 0, seconds)),
                    else_=table.c.locked_until)
        first = now + dt.timedelta(seconds=self.backoff) if self.free <= 1 else None
        insert = pg_insert(LoginFailure).values(key=key, failures=1, window_start=now, locked_until=first)
        return insert.on_conflict_do_update(index_elements=[table.c.key], set_={
            "failures": count, "window_start": now, "locked_until": lock})


async def registration_allowed(request: Request) -> None:
    """Route dependency of `POST /auth/register`: refused (429) once the caller's address has
    registered `GATEWAY_REGISTRATIONS_PER_IP` times within the hour."""
    await request.app.state.login_throttle.registering(request.client.host if request.client else "unknown")


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
