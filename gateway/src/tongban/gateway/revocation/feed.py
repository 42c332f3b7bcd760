"""Keeps this process's deny list current: every revocation still in force is loaded from the
database at start, and each `gateway.token.revoked` event is added as it arrives.

Every process must see every event, so the subscription is the shared follower's consumer
(tongban.shared.revocation): ephemeral, one per process, starting with the messages published
after it was made (what came before is in the database, which is read after subscribing, so
nothing falls in between), and made again from its next sequence after a NATS restart. Never a
shared durable consumer,
which would hand each event to one process only. As a safety net against a long NATS outage,
the database is re-read every `resync_seconds` for rows recorded since the last read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.revocation.service import load_live
from tongban.shared.revocation import DenyList, RevocationFollower

log = logging.getLogger("tongban.gateway.revocation")
# A transaction's rows carry its start time: re-read a margin back so a slow commit is not missed.
RESYNC_MARGIN = dt.timedelta(seconds=120)
FOLLOW_WAIT = 10.0  # seconds the start waits for the feed's consumer


class DenyListFeed(RevocationFollower):
    """The gateway's follower: new events only, what came before from its database."""

    def __init__(self, denylist: DenyList, sessionmaker: async_sessionmaker[AsyncSession], js: Callable[[], Any],
                 resync_seconds: float = 30.0) -> None:
        super().__init__(denylist, js, replay=0)
        self.sessionmaker = sessionmaker
        self.resync_seconds = resync_seconds

    async def start(self) -> None:
        self._spawn(self._follow(), "denylist-feed")
        # The stream is there (the runtime made it before this): the consumer comes at once unless
        # NATS is away, and then the re-reads below cover what the feed would have brought.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.following.wait(), FOLLOW_WAIT)
        read_at = dt.datetime.now(dt.UTC)
        count = await load_live(self.sessionmaker, self.denylist)
        log.info("deny list loaded: %d revocations in force", count)
        self._spawn(self._resync(read_at), "denylist-resync")

    async def _resync(self, read_at: dt.datetime) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            started = dt.datetime.now(dt.UTC)
            try:
                await load_live(self.sessionmaker, self.denylist, since=read_at - RESYNC_MARGIN)
                read_at = started
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; try next round
                log.warning("could not re-read revocations: %s", exc)
            self.denylist.prune(time.time())
