"""Sharing the per-caller API limit between gateway processes without a round trip per request.

Every `interval` each process publishes, on a core NATS subject outside any stream (nothing
is stored; a lost message only loosens the limit for one interval), how many requests it let
through per caller during the interval, for callers busy enough to matter: those that used at
least a quarter of what the limit allows in an interval. Every other process charges those
counts to its own buckets. Per request the cost is one dictionary increment (`TokenBuckets.used`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from tongban.gateway.protection.limits import TokenBuckets
from tongban.shared.events.bus import Listener

log = logging.getLogger("tongban.gateway.limits")
SUBJECT = "_tongban.gateway.ratelimit.used"
MAX_CALLERS_PER_MESSAGE = 5_000


class LimitGossip(Listener):
    def __init__(self, buckets: TokenBuckets, nc: Any, interval: float = 1.0) -> None:
        self.buckets = buckets
        self.nc = nc
        self.interval = interval
        self.process = f"{os.getpid()}-{os.urandom(4).hex()}"
        # Callers below this many requests in an interval cannot get near the limit through a few processes.
        self.threshold = max(1, int(buckets.rate * interval / 4))
        self.charged = 0

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(SUBJECT, cb=self._on_message)
        self._task = asyncio.create_task(self._publish_loop(), name="limit-gossip")

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            used = self.buckets.drain_used()
            busy = {k: n for k, n in used.items() if n >= self.threshold}
            if not busy:
                continue
            if len(busy) > MAX_CALLERS_PER_MESSAGE:
                busy = dict(sorted(busy.items(), key=lambda kv: kv[1], reverse=True)[:MAX_CALLERS_PER_MESSAGE])
            try:
                await self.nc.publish(SUBJECT, json.dumps({"from": self.process, "used": busy}).encode())
            except Exception as exc:  # noqa: BLE001 - NATS away: limits stay per process meanwhile
                log.debug("could not share rate-limit usage: %s", exc)

    async def _on_message(self, msg: Any) -> None:
        try:
            body = json.loads(msg.data)
            if body.get("from") == self.process:
                return
            used = body["used"]
            for key, count in used.items():
                if isinstance(key, str) and isinstance(count, int) and count > 0:
                    self.buckets.charge(key, count)
            self.charged += 1
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            log.warning("ignoring a malformed rate-limit message: %s", exc)
