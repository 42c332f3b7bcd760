"""Password hashing with bounded concurrency.

An argon2id hash or check takes 64 MiB and tens of milliseconds of a core. Run on the default
thread pool, a flood of logins or registrations queued without bound: every waiting request held
its connection and its memory, and the real ones waited behind it. Here at most `slots` hashes
run at once and at most `queue` requests wait; the rest are answered 503 with Retry-After at once
(`HashingBusy`). The gate is per process, configured from the settings in the lifespan
(`GATEWAY_PASSWORD_HASH_SLOTS`, `GATEWAY_PASSWORD_HASH_QUEUE`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from tongban.gateway.protection.limits import RateLimited

T = TypeVar("T")


class HashingBusy(RateLimited):
    code, status, title = "server_busy", 503, "Too many sign-ins at once: try again in a moment"


class HashGate:
    def __init__(self, slots: int, queue: int) -> None:
        self.slots = slots
        self.queue = queue
        self.loop = asyncio.get_running_loop()
        self._free = asyncio.Semaphore(slots)
        self.admitted = 0              # running or waiting for a slot
        self.refused = 0

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.admitted >= self.slots + self.queue:
            self.refused += 1
            raise HashingBusy("the gateway is checking too many passwords right now", retry_after=1)
        self.admitted += 1
        try:
            async with self._free:
                return await asyncio.to_thread(fn, *args)
        finally:
            self.admitted -= 1


_gate: HashGate | None = None


def configure(slots: int, queue: int) -> HashGate:
    """Bound the hashing of this process (called in the gateway's lifespan)."""
    global _gate
    _gate = HashGate(slots, queue)
    return _gate


async def run(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` (a hash or a check) off the event loop, within the process's bound. Outside a
    running gateway (seeding, a script) there is no bound."""
    gate = _gate
    if gate is None or gate.loop is not asyncio.get_running_loop():
        return await asyncio.to_thread(fn, *args)
    return await gate.run(fn, *args)
