"""Periodic tasks of a service's worker: a coroutine run every `interval` seconds, beside the
outbox relay and the consumers (so `RUN_WORKER=false` web processes never run them).

Each run gets the service's sessionmaker; a failing run is logged and the next one still
happens. Replicas each run the task: the task itself must make concurrent runs harmless
(an advisory lock, `FOR UPDATE SKIP LOCKED`, idempotent flags).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("tongban.periodic")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval: float                   # seconds between the end of one run and the start of the next
    run: Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]]


async def run_periodic(task: PeriodicTask, sessionmaker: async_sessionmaker[AsyncSession],
                       stop: asyncio.Event) -> None:
    """Run `task` until `stop` is set."""
    while not stop.is_set():
        try:
            await task.run(sessionmaker)
        except Exception:  # noqa: BLE001 - one failed run must not end the loop; it is logged
            log.exception("periodic task %s failed; retrying in %.0fs", task.name, task.interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=task.interval)
