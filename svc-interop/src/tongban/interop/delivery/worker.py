"""The deliverer: sends queued messages to partners, verifies their signed answers, retries.

Each pass claims due messages in a short transaction (a lease, not a lock held over HTTP),
sends them concurrently, and records each outcome with its log entry and the business
consequence (the partner's case number, say) in one transaction. A resend after a crash or a
lost answer carries the same message id: the partner answers it from its idempotency store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.interop import signing
from tongban.interop.delivery import repository
from tongban.interop.delivery.models import OutboundMessage
from tongban.interop.delivery.tokens import PartnerTokens, TokenUnavailable
from tongban.interop.exchange import repository as nonces
from tongban.interop.identity.service import KeyRing, public_from_b64url
from tongban.interop.ledger import service as ledger
from tongban.interop.partner import repository as partners

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
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ring: Callable[[], KeyRing],
                 http: httpx.AsyncClient, tokens: PartnerTokens, handlers: dict[str, OnDelivered],
                 listen_dsn: str | None, poll: float = 1.0, timeout: float = 10.0, max_attempts: int = 50,
                 skew: int = 300, batch: int = 50) -> None:
        self.sessionmaker = sessionmaker
        self.ring = ring
        self.http = http
        self.tokens = tokens
        self.handlers = handlers
        self.listen_dsn = listen_dsn
        self.poll = poll
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.skew = skew
        self.batch = batch
        self.lease = dt.timedelta(seconds=timeout + 5)
        self._wake = asyncio.Event()
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
            rows = await repository.claim_due(session, self.batch, self.lease)
            if not rows:
                await nonces.purge_nonces(session, dt.datetime.now(dt.UTC))
                return 0, await repository.seconds_to_next_due(session)
            session.expunge_all()
        await asyncio.gather(*(self._deliver(m) for m in rows))
        return len(rows), None

    async def _deliver(self, message: OutboundMessage) -> None:
        try:
            attempt = await self._attempt(message)
        except Exception as exc:  # noqa: BLE001 - one message's surprise must not stop the others; retried
            log.exception("delivery of %s failed unexpectedly", message.id)
            attempt = Attempt("retry", self._entry(message, "", {}, b""), error=f"{type(exc).__name__}: {exc}")
        await self._record(message, attempt)

    def _entry(self, m: OutboundMessage, url: str, headers: dict[str, str], body: bytes) -> ledger.Exchange:
        return ledger.Exchange(direction="outbound", method=m.method, target=url, request_headers=headers,
                               request_body=body, outcome="pending", partner=m.partner, message_id=str(m.id))

    async def _attempt(self, m: OutboundMessage) -> Attempt:
        async with self.sessionmaker() as session:
            partner, active_keys = await partners.with_active_keys(session, m.partner)
            keys = {k.kid: public_from_b64url(k.public_key) for k in active_keys}
        if partner is None or partner.status != "active":
            return Attempt("failed", self._entry(m, "", {}, b""), error=f"{m.partner} is not an active partner")
        url = partner.base_url + m.path
        body = b"" if m.body is None else json.dumps(m.body, ensure_ascii=False, separators=(",", ":")).encode()
        ring = self.ring()
        headers = {signing.SENDER: ring.region_code, signing.MESSAGE_ID: str(m.id)}
        if m.method != "GET":
            headers[signing.IDEMPOTENCY_KEY] = str(m.id)
        if m.on_behalf_of:
            headers[signing.ON_BEHALF_OF] = m.on_behalf_of
        if m.case_number:
            headers[signing.CASE] = m.case_number
        signed = signing.sign_request(ring.private, ring.kid, m.method, url, headers, body)
        wire = {**headers, **signed.headers, "content-type": "application/json"}
        entry = self._entry(m, url, ledger.kept(wire), body)
        try:
            token = await self.tokens.token_for(partner)
        except TokenUnavailable as exc:
            return Attempt("retry", entry, error=str(exc))
        auth = {"authorization": f"Bearer {token}"} if token else {}
        try:
            resp = await self.http.request(m.method, url, content=body, headers={**wire, **auth}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return Attempt("retry", entry, error=f"partner unreachable: {type(exc).__name__}: {exc}")
        entry.response_status = resp.status_code
        entry.response_headers = ledger.kept(resp.headers)
        entry.response_body = resp.content
        try:
            signing.verify_response(resp.status_code, resp.headers, resp.content, signed.request_hash, keys.get,
                                    skew=self.skew)
        except signing.SignatureRefused as exc:
            # An unsigned answer is most likely the partner's gateway or proxy failing; retry.
            return Attempt("retry" if resp.status_code in RETRYABLE or resp.status_code < 400 else "failed", entry,
                           error=f"answer refused: {exc.code}: {exc.detail}")
        if resp.status_code == 401:
            self.tokens.forget(partner.region_code)
        if resp.status_code < 300:
            try:
                answer = resp.json() if resp.content else {}
            except ValueError:
                answer = {}
            return Attempt("delivered", entry, answer=answer if isinstance(answer, dict) else {"value": answer})
        outcome = "retry" if resp.status_code in RETRYABLE else "failed"
        return Attempt(outcome, entry, error=f"partner answered {resp.status_code}: {resp.text[:500]}")

    async def _record(self, m: OutboundMessage, attempt: Attempt) -> None:
        outcome = attempt.outcome
        if outcome == "retry" and m.attempts >= self.max_attempts:
            outcome, attempt.error = "failed", f"gave up after {m.attempts} attempts: {attempt.error}"
        attempt.entry.outcome = outcome
        attempt.entry.reason = attempt.error
        now = dt.datetime.now(dt.UTC)
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
        """Keep a LISTEN connection open so a committed message is sent at once; reconnect on failure."""
        while not stop.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(self.listen_dsn)
                await conn.add_listener(repository.NOTIFY_CHANNEL, lambda *_: self._wake.set())
                self._wake.set()
                while not stop.is_set() and not conn.is_closed():
                    await asyncio.sleep(1.0)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("delivery LISTEN connection failed: %s", exc)
                await asyncio.sleep(1.0)
            finally:
                if conn is not None and not conn.is_closed():
                    await conn.close()
