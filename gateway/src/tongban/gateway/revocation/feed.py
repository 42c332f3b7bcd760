"""Keeps this process's deny list current: every revocation still in force is loaded from the
database at start, and each `gateway.token.revoked` event is added as it arrives.

Every process must see every event, so the subscription is an ordered consumer: ephemeral,
one per process, starting with the messages published after it was made (what came before is
in the database, which is read after subscribing, so nothing falls in between), and resumed
from its last sequence by the client after a NATS reconnect. Never a shared durable consumer,
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

from nats.js.api import DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.revocation.denylist import DenyList
from tongban.gateway.revocation.service import as_revoked, load_live
from tongban.shared.contracts.gateway import TOKEN_REVOKED, TokenRevokedV1
from tongban.shared.events.envelope import Envelope

log = logging.getLogger("tongban.gateway.revocation")
# A transaction's rows carry its start time: re-read a margin back so a slow commit is not missed.
RESYNC_MARGIN = dt.timedelta(seconds=120)


class DenyListFeed:
    def __init__(self, denylist: DenyList, sessionmaker: async_sessionmaker[AsyncSession], js: Callable[[], Any],
                 resync_seconds: float = 30.0) -> None:
        self.denylist = denylist
        self.sessionmaker = sessionmaker
        self.js = js
        self.resync_seconds = resync_seconds
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self.received = 0

    async def start(self) -> None:
        self._sub = await self.js().subscribe(TOKEN_REVOKED, cb=self._on_message, ordered_consumer=True,
                                              deliver_policy=DeliverPolicy.NEW)
        read_at = dt.datetime.now(dt.UTC)
        count = await load_live(self.sessionmaker, self.denylist)
        log.info("deny list loaded: %d revocations in force", count)
        self._task = asyncio.create_task(self._resync(read_at), name="denylist-resync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_message(self, msg: Any) -> None:
        try:
            payload = TokenRevokedV1.model_validate(Envelope.model_validate_json(msg.data).data)
        except ValidationError as exc:
            log.warning("ignoring a malformed %s event: %s", TOKEN_REVOKED, exc.errors()[:1])
            return
        for entry in payload.entries:
            self.denylist.add(as_revoked(entry))
        self.received += 1

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
