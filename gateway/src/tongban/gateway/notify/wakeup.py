"""This process's dispatcher sleeps until new deliveries are committed here (or its poll comes)."""

import asyncio
import contextlib


class Wakeup:
    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def _get(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def poke(self) -> None:
        self._get().set()

    def poked(self) -> bool:
        """Whether a poke waits for the dispatcher (it clears once the dispatcher wakes)."""
        return self._get().is_set()

    async def wait(self, timeout: float) -> None:
        event = self._get()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    def reset(self) -> None:
        """A new event loop (a test's) gets a new event."""
        self._event = None


WAKEUP = Wakeup()
