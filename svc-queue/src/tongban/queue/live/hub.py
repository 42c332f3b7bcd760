"""Fan-out of live hall updates to this replica's SSE clients.

Every replica LISTENs on one PostgreSQL channel; a NOTIFY sent inside a committed transaction
(calls, finishes, new tickets) reaches all replicas, whichever one handled the request. Each
client gets a bounded queue: a client too slow to keep up is dropped (its browser reconnects
and starts again from a fresh snapshot) rather than slowing everyone else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any


from tongban.queue.notify import CHANNEL
from tongban.shared.db import listen

log = logging.getLogger("tongban.queue.live")
CLIENT_QUEUE = 256
# The key of clients that follow every update of every hall, and the city's (the dashboard).
EVERY_HALL = "*"


class LiveHub:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.clients: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = defaultdict(set)
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the LISTEN connection open until `stop`; reconnect after a failure."""
        await listen(self.dsn, CHANNEL, self._on_notify, stop,
                     on_connected=lambda up: self.listening.set() if up else self.listening.clear())

    def _on_notify(self, payload: str) -> None:
        try:
            update = json.loads(payload)
        except ValueError:
            log.warning("unreadable live update dropped: %r", payload[:200])
            return
        for key in (update.get("hall_id", ""), EVERY_HALL):
            for q in list(self.clients.get(key, ())):
                try:
                    q.put_nowait(update)
                except asyncio.QueueFull:
                    self.clients[key].discard(q)
                    q.get_nowait()
                    q.put_nowait(None)  # tells that client's stream to end

    def subscribe(self, hall_id: str) -> asyncio.Queue[dict[str, Any] | None]:
        """A new client of the hall's updates (EVERY_HALL: of all); pair with `unsubscribe`."""
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(CLIENT_QUEUE)
        self.clients[hall_id].add(q)
        return q

    def unsubscribe(self, hall_id: str, q: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.clients[hall_id].discard(q)
        if not self.clients[hall_id]:
            self.clients.pop(hall_id, None)

    @property
    def client_count(self) -> int:
        return sum(len(v) for v in self.clients.values())
