"""The platform's one clock: every service asks it for now and today; tests pin it.

Business time (a case's receipt day, a deadline, a slot, a consent's expiry) comes from here so
a test can say "as on 2026-12-28" and mean it. Security timers that a third-party library checks
against the wall clock on its own (JWT `exp` in PyJWT, TLS) stay on the wall clock: pinning them
would only make the library and the platform disagree.

A pinned clock keeps ticking from the instant it was pinned to, so timeouts and ordering inside
a test behave as in real life; `tick=False` freezes it.

A whole process can start as on another day: `TONGBAN_CLOCK_START=2026-12-20T10:00:00+08:00`,
honoured only with `TONGBAN_ENV=development` or `test` (a deployment's legal clock is never
moved by an environment variable). The end-to-end calendar story runs the platform that way.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST: a fixed offset needs no tzdata


def _wall() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_source: Callable[[], dt.datetime] = _wall


def now() -> dt.datetime:
    """The current instant, timezone-aware (UTC)."""
    return _source()


def today() -> dt.date:
    """Today in China: legal days are Beijing-time days, whatever the server's own zone."""
    return now().astimezone(CHINA).date()


def timestamp() -> float:
    """now() as POSIX seconds."""
    return now().timestamp()


def set_source(source: Callable[[], dt.datetime] | None) -> None:
    """Replace the clock's source (None: back to the wall clock)."""
    global _source
    _source = source or _wall


def pinned_source(at: dt.datetime, tick: bool = True) -> Callable[[], dt.datetime]:
    """A source that starts at `at` (naive means Beijing time) and, with `tick`, moves on in real time."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=CHINA)
    at = at.astimezone(dt.UTC)
    if not tick:
        return lambda: at
    started = time.monotonic()
    return lambda: at + dt.timedelta(seconds=time.monotonic() - started)


@contextmanager
def pinned(at: dt.datetime | dt.date, tick: bool = True) -> Iterator[None]:
    """Run a block as on `at` (a date means 10:00 Beijing time that day)."""
    if not isinstance(at, dt.datetime):
        at = dt.datetime.combine(at, dt.time(10, 0), tzinfo=CHINA)
    previous = _source
    set_source(pinned_source(at, tick))
    try:
        yield
    finally:
        set_source(previous)


def _from_environment() -> None:
    start = os.environ.get("TONGBAN_CLOCK_START")
    if not start:
        return
    if os.environ.get("TONGBAN_ENV") not in ("development", "test"):
        raise RuntimeError("TONGBAN_CLOCK_START is honoured only with TONGBAN_ENV=development or test")
    set_source(pinned_source(dt.datetime.fromisoformat(start)))


_from_environment()
