"""NATS JetStream connection and stream provisioning (one stream per publishing service)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError

log = logging.getLogger("tongban.events")
DUPLICATE_WINDOW = 600.0  # seconds in which JetStream drops a repeated Nats-Msg-Id


class Listener:
    """A NATS subscription with background tasks beside it (a revocation follower, the gateway's
    deny-list feed, its rate-limit gossip). Subclasses set `_sub` and start their tasks with
    `_spawn` (or set `_task`); `stop()` ends the tasks, then the subscription."""

    _sub: Any = None
    _task: asyncio.Task[None] | None = None
    _tasks: list[asyncio.Task[None]] | None = None

    def _spawn(self, coro: Any, name: str) -> None:
        if self._tasks is None:
            self._tasks = []
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        for task in [*(self._tasks or ()), *([self._task] if self._task is not None else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sub is not None:
            with contextlib.suppress(Exception):  # the connection may be closing already
                await self._sub.unsubscribe()


def stream_name(service: str) -> str:
    return service.upper().replace("-", "_")


async def connect(url: str, name: str, user: str | None = None, password: str | None = None) -> Client:
    """Connect and keep reconnecting forever: a NATS restart must never kill a service.

    `url` may list several servers of a cluster, comma-separated; the client fails over.
    `user`/`password`: the process's own NATS identity (tongban.shared.events.identity); its
    inboxes then live under `_INBOX.<user>`, the only ones it may subscribe to.
    """
    credentials: dict[str, Any] = {}
    if user:
        credentials = {"user": user, "password": password or "", "inbox_prefix": f"_INBOX.{user}"}

    async def _disconnected() -> None:
        log.warning("NATS disconnected")

    async def _reconnected() -> None:
        log.info("NATS reconnected")

    async def _error(exc: Exception) -> None:
        log.warning("NATS error: %s", exc)

    return await nats.connect(
        servers=[u.strip() for u in url.split(",") if u.strip()], name=name, max_reconnect_attempts=-1,
        reconnect_time_wait=0.5, connect_timeout=2,
        allow_reconnect=True, disconnected_cb=_disconnected, reconnected_cb=_reconnected, error_cb=_error,
        **credentials,
    )


async def ensure_stream(js: JetStreamContext, service: str, replicas: int = 1, patience: float = 30.0,
                        max_age: float | None = None) -> None:
    """Create or update the stream that carries `<service>.>` (`max_age`: seconds an event is
    kept; None: until deleted, as consumers created later start from the first event).

    On a cluster that is still electing its meta leader, or busy placing a replicated stream
    another replica is creating at the same moment, the JetStream API times out: retry with
    backoff for up to `patience` seconds before failing the start."""
    config = StreamConfig(
        name=stream_name(service), subjects=[f"{service}.>"], duplicate_window=DUPLICATE_WINDOW,
        num_replicas=replicas, max_age=max_age,
    )
    deadline = asyncio.get_running_loop().time() + patience
    delay = 0.2
    while True:
        try:
            try:
                await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
                log.info("created stream %s", config.name)
                return
            await js.update_stream(config)
            return
        except (nats.errors.TimeoutError, ServiceUnavailableError) as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.warning("JetStream not ready for stream %s (%s); retrying", config.name, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
