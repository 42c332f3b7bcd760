"""The deliverer: sends queued messages to partners, verifies their signed answers, retries.

Each pass claims due messages in a short transaction (a lease, not a lock held over HTTP),
sends them concurrently, and records each outcome with its log entry and the business
consequence (the partner's case number, say) in one transaction. A resend after a crash or a
lost answer carries the same message id: the partner answers it from its idempotency store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.interop.delivery import repository
from tongban.interop.delivery.models import OutboundMessage
from tongban.interop.exchange import repository as nonces
from tongban.interop.exchange.wire import INACTIVE, UNSIGNED, Wire, encode
from tongban.interop.ledger import service as ledger
from tongban.shared import clock
from tongban.shared.db import listen

log = logging.getLogger("tongban.interop.delivery")
MAX_BACKOFF = 60.0
# Answers worth retrying: the partner (or its gateway) is down, overloaded, or does not know our
# new key yet. Any other 4xx is the partner refusing this message: retrying cannot help.
RETRYABLE = {401, 408, 425, 429, 500, 502, 503, 504}
OnDelivered = Callable[[AsyncSession, OutboundMessage, dict[str, Any]], Awaitable[None]]


def backoff_seconds(attempts: int) -> float:
    base = min(MAX_BACKOFF, 0.5 * 2 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)  # jitter: many messages to a recovered partner do not stampede


@dataclass
class Attempt:
    outcome: str                      # delivered / retry / failed
    entry: ledger.Exchange
    answer: dict[str, Any] | None = None
    error: str | None = None


class Deliverer:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], wire: Wire, handlers: dict[str, OnDelivered],
                 listen_dsn: str | None, poll: float = 1.0, timeout: float = 10.0, max_attempts: int = 50,
                 batch: int = 50, on_failed: dict[str, OnDelivered] | None = None, record_concurrency: int = 4) -> None:
        self.sessionmaker = sessionmaker
        self.wire = wire
        self.on_failed = on_failed or {}
        self.handlers = handlers
        self.listen_dsn = listen_dsn
        self.poll = poll
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = dt.timedelta(seconds=timeout + 5)
        self._wake = asyncio.Event()
        # Outcomes recorded at once, at most: each record's transaction ends on the log's one lock
        # (ledger.append), so more at once only hold more pooled connections while they queue for
        # it (a pass of 50 took the whole pool and overflow, and the requests' transactions waited).
        self._recording = asyncio.Semaphore(record_concurrency)
        self.delivered = 0

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop), name="delivery-listen") if self.listen_dsn else None
        try:
            while not stop.is_set():
                # Cleared before the pass, not after: a NOTIFY arriving while the pass runs (a message
                # committed just after our claim query) must wake the wait below, not be lost until
                # the next poll. Clearing after the pass lost such wakes: up to `poll` seconds added
                # to a message's delivery (the p99 of bench/interop.py).
                self._wake.clear()
                try:
                    sent, next_due = await self.deliver_due()
                except Exception:  # noqa: BLE001 - the deliverer must outlive a database hiccup; it is logged
                    log.exception("delivery pass failed")
                    sent, next_due = 0, 1.0
                if sent:
                    continue
                wait = min(self.poll, next_due) if next_due is not None else self.poll
                stop_wait = asyncio.create_task(stop.wait())
                wake_wait = asyncio.create_task(self._wake.wait())
                await asyncio.wait({stop_wait, wake_wait}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                stop_wait.cancel()
                wake_wait.cancel()
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def deliver_due(self) -> tuple[int, float | None]:
        """One pass: attempt every due message (up to `batch`). Returns (attempted, seconds to next due)."""
        async with self.sessionmaker() as session, session.begin():
            rows, version = await repository.claim_due(session, self.batch, self.lease)
            if not rows:
                await nonces.purge_nonces(session, clock.now())
                return 0, await repository.seconds_to_next_due(session)
            session.expunge_all()
        await asyncio.gather(*(self._deliver(m, version) for m in rows))
        return len(rows), None

    async def _deliver(self, message: OutboundMessage, version: int | None = None) -> None:
        try:
            attempt = await self._attempt(message, version)
        except Exception as exc:  # noqa: BLE001 - one message's surprise must not stop the others; retried
            log.exception("delivery of %s failed unexpectedly", message.id)
            entry = ledger.Exchange(direction="outbound", method=message.method, target="", request_headers={},
                                    request_body=b"", outcome="pending", partner=message.partner,
                                    message_id=str(message.id))
            attempt = Attempt("retry", entry, error=f"{type(exc).__name__}: {exc}")
        await self._record(message, attempt)

    async def _attempt(self, m: OutboundMessage, version: int | None = None) -> Attempt:
        sent = await self.wire.send(m.partner, m.method, m.path, encode(m.body), str(m.id),
                                    on_behalf_of=m.on_behalf_of, case_number=m.case_number, version=version)
        if sent.problem == INACTIVE:
            return Attempt("failed", sent.entry, error=sent.error)
        if sent.problem == UNSIGNED:
            status = sent.status or 0
            return Attempt("retry" if status in RETRYABLE or status < 400 else "failed", sent.entry, error=sent.error)
        if sent.problem is not None:  # no token yet, or the partner is unreachable: later
            return Attempt("retry", sent.entry, error=sent.error)
        status = sent.status or 0
        if status < 300:
            answer = sent.answer if sent.answer is not None else {}
            return Attempt("delivered", sent.entry, answer=answer if isinstance(answer, dict) else {"value": answer})
        outcome = "retry" if status in RETRYABLE else "failed"
        return Attempt(outcome, sent.entry, error=f"partner answered {status}: {sent.text}")

    async def _record(self, m: OutboundMessage, attempt: Attempt) -> None:
        outcome = attempt.outcome
        if outcome == "retry" and m.attempts >= self.max_attempts:
            outcome, attempt.error = "failed", f"gave up after {m.attempts} attempts: {attempt.error}"
        attempt.entry.outcome = outcome
        attempt.entry.reason = attempt.error
        async with self._recording:
            await self._record_now(m, attempt, outcome)

    async def _record_now(self, m: OutboundMessage, attempt: Attempt, outcome: str) -> None:
        now = clock.now()
        async with self.sessionmaker() as session, session.begin():
            current = await repository.get_for_update(session, m.id)
            if current is None or current.state != "pending":
                return  # another deliverer finished it after our lease ran out
            current.last_error = attempt.error
            current.response_status = attempt.entry.response_status
            if outcome == "delivered":
                current.state, current.delivered_at, current.response_body = "delivered", now, attempt.answer
                handler = self.handlers.get(m.message_type)
                if handler is not None:
                    await handler(session, current, attempt.answer or {})
                self.delivered += 1
            elif outcome == "failed":
                current.state = "failed"
                if (on_failed := self.on_failed.get(m.message_type)) is not None:
                    # refused: the partner (or its absence from our registry) said no; else we gave up retrying
                    await on_failed(session, current, {"error": attempt.error, "status": attempt.entry.response_status,
                                                       "refused": attempt.outcome == "failed"})
                log.error("message %s to %s failed for good: %s", m.id, m.partner, attempt.error)
            else:
                current.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(m.attempts))
                log.warning("message %s to %s: %s; attempt %d, retrying", m.id, m.partner, attempt.error, m.attempts)
            # Last, just before the commit: the append takes the log's one advisory lock (each entry
            # needs the previous hash), so every other delivery and inbound message waits while it
            # is held. Taken first, it was held over the business consequence too.
            await session.flush()
            await ledger.append(session, attempt.entry)

    async def _listen(self, stop: asyncio.Event) -> None:
        """A committed message is sent at once: wake on its NOTIFY (and on reconnecting, to catch up)."""
        await listen(self.listen_dsn, repository.NOTIFY_CHANNEL, lambda _payload: self._wake.set(), stop,
                     on_connected=lambda up: self._wake.set() if up else None)
