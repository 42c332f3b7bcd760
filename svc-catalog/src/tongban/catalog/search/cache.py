"""A per-process cache of search answers, keyed by the catalogue's search generation.

Every write that can change what a search answers (an item created, edited, published or
retired; an implementation that changes an item's search keys) goes through the item
repository, which bumps `search_generation.n` in the same transaction. A search uses a cached
answer only if it was computed at the current generation, which each replica reads (one row by
primary key) at most once a second and at once after a write of its own: a committed change is
seen by the next search on the replica that made it and within a second on the others. The TTL
and the size bound only limit memory. Public answers only (search needs no login and shows no
personal data), so one entry serves everyone.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.catalog.item.models import Item
from tongban.catalog.search.models import SearchGeneration

MAX_ENTRIES = 4096
TTL_SECONDS = 300.0
COMPUTE_SLOTS = 8         # below the database pool (10 + 10 overflow), leaving room for the rest
SLOT_WAIT_SECONDS = 2.0
GENERATION_MAX_AGE = 1.0  # seconds a replica trusts the generation it last read
_local_writes = 0         # writes begun in this process: re-read the generation at once


async def bump(session: AsyncSession, item_id: uuid.UUID) -> None:
    """Mark every cached answer stale once this transaction commits, and stamp the item with the
    new generation (what the search index reads to catch up). The generation row stays locked
    until the commit, so generations commit in order."""
    global _local_writes
    _local_writes += 1
    n = (await session.execute(update(SearchGeneration).where(SearchGeneration.id == 1)
                               .values(n=SearchGeneration.n + 1).returning(SearchGeneration.n))).scalar_one()
    await session.execute(update(Item).where(Item.id == item_id).values(search_seq=n))


class AnswerCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, ttl: float = TTL_SECONDS) -> None:
        self.max_entries, self.ttl = max_entries, ttl
        self._entries: OrderedDict[tuple[Any, ...], tuple[int, float, Any]] = OrderedDict()
        self._generation, self._read_at, self._writes_seen = 0, float("-inf"), -1
        # Searches computed at once by this replica: beyond, they wait (a little) for a slot, so an
        # overload answers 503 quickly instead of queueing for the database pool.
        self.slots = asyncio.Semaphore(COMPUTE_SLOTS)

    async def generation(self, session: AsyncSession) -> int:
        """The catalogue's search generation, read at most once a second (a cached answer never
        costs a database round trip), and at once after a write made by this process."""
        now = time.monotonic()
        if now - self._read_at > GENERATION_MAX_AGE or self._writes_seen != _local_writes:
            writes = _local_writes
            self._generation = (await session.execute(
                select(SearchGeneration.n).where(SearchGeneration.id == 1))).scalar_one_or_none() or 0
            self._read_at, self._writes_seen = now, writes
        return self._generation

    def get(self, key: tuple[Any, ...], gen: int) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry_gen, stored_at, value = entry
        if entry_gen != gen or time.monotonic() - stored_at > self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: tuple[Any, ...], gen: int, value: Any) -> None:
        self._entries[key] = (gen, time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def of(app: Any) -> AnswerCache:
    """The app's own cache (one per app: tests run several apps, each on its own database)."""
    if not hasattr(app.state, "search_answers"):
        app.state.search_answers = AnswerCache()
    return app.state.search_answers
