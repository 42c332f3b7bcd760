"""The append-only, hash-chained log of every message in and out.

Each entry's hash is sha256(previous hash + "\\n" + the canonical entry), the canonical entry
being sorted-key compact JSON of its fields with the bodies replaced by their sha-256. Bodies
are kept (the evidence export shows them and the check recomputes their digests), except the
request body of a refusal: there only its digest is kept (`request_body_sha256`), so a partner's
refused junk costs the log a few bytes. Sequence numbers are gapless, so a deleted row breaks the chain as surely as
an edited one. The log is not a business record: it is written even when the message was
refused, and never rolled back with the business transaction of a refusal.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.interop.ledger import repository
from tongban.interop.ledger.models import MessageLog
from tongban.shared import clock

GENESIS = "0" * 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Headers worth keeping as evidence (never the bearer token).
KEPT_HEADERS = ("content-type", "content-digest", "signature-input", "signature", "idempotency-key",
                "x-interop-sender", "x-interop-message-id", "x-interop-on-behalf-of", "x-interop-case",
                "x-interop-request-hash", "idempotent-replayed")


@dataclass
class Exchange:
    """One message as seen on the wire: the request and the response (or why there was none)."""

    direction: str
    method: str
    target: str
    request_headers: dict[str, str]
    request_body: bytes
    outcome: str
    partner: str | None = None
    message_id: str | None = None
    response_status: int | None = None
    response_headers: dict[str, str] | None = None
    response_body: bytes = b""
    reason: str | None = None
    keep_request_body: bool = True


def kept(headers: Any) -> dict[str, str]:
    return {k: headers[k] for k in KEPT_HEADERS if k in headers}


def canonical(entry: MessageLog) -> bytes:
    fields = {
        "seq": entry.seq, "at_us": (entry.at - EPOCH) // dt.timedelta(microseconds=1),
        "direction": entry.direction, "partner": entry.partner, "message_id": entry.message_id,
        "method": entry.method, "target": entry.target, "request_headers": entry.request_headers,
        "request_body_sha256": entry.request_body_sha256 or hashlib.sha256(entry.request_body).hexdigest(),
        "response_status": entry.response_status, "response_headers": entry.response_headers,
        "response_body_sha256": hashlib.sha256(entry.response_body).hexdigest(),
        "outcome": entry.outcome, "reason": entry.reason,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, entry: MessageLog) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(entry)).hexdigest()


async def append(session: AsyncSession, x: Exchange) -> MessageLog:
    """Append one exchange to the chain (in the caller's transaction)."""
    return (await append_many(session, [x]))[0]


async def append_many(session: AsyncSession, xs: list[Exchange], head: tuple[int, str] | None = None
                      ) -> list[MessageLog]:
    """Append exchanges to the chain in this order (in the caller's transaction): one statement
    that locks and reads the head (unless the caller did: `head`), and one insert for all of them."""
    seq, prev_hash = head if head is not None else await repository.lock_head(session)
    entries = []
    for x in xs:
        kept_body = x.request_body if x.keep_request_body else b""
        digest = None if x.keep_request_body else hashlib.sha256(x.request_body).hexdigest()
        seq += 1
        entry = MessageLog(
            seq=seq, at=clock.now(), direction=x.direction, partner=x.partner,
            message_id=x.message_id, method=x.method, target=x.target, request_headers=x.request_headers,
            request_body=kept_body, request_body_sha256=digest, response_status=x.response_status,
            response_headers=x.response_headers or {},
            response_body=x.response_body, outcome=x.outcome, reason=x.reason, prev_hash=prev_hash)
        entry.hash = prev_hash = chain_hash(prev_hash, entry)
        entries.append(entry)
    await repository.add_all(session, entries)
    return entries


class LedgerWriter:
    """Appends of entries that share their transaction with nothing else (the exchange edge's log
    of every inbound message): while one append transaction holds the log's lock and waits for
    its commit to reach the disk, the entries arriving meanwhile gather and go together in the
    next (one lock, one head read, one insert, one commit); the batch is taken once the lock is
    held, so the entries arriving while it is awaited join it. Each caller still returns only once
    its own entry is committed; a busy log costs a commit per batch instead of one per message."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._pending: list[tuple[Exchange, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def append(self, x: Exchange) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((x, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await asyncio.shield(done)  # a caller that goes away does not take its entry out of a batch

    async def _drain(self) -> None:
        while self._pending:
            batch: list[tuple[Exchange, asyncio.Future[None]]] = []
            try:
                async with self.sessionmaker() as session, session.begin():
                    head = await repository.lock_head(session)
                    # Taken once the log's lock is held: the entries that arrived while the
                    # connection was checked out and the lock awaited go in this batch too.
                    batch, self._pending = self._pending, []
                    await append_many(session, [x for x, _ in batch], head=head)
            except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the failure
                if not batch:  # failed before the batch was taken: the waiting entries fail with it
                    batch, self._pending = self._pending, []
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


@dataclass
class ChainCheck:
    ok: bool
    entries: int
    head_seq: int | None
    head_hash: str | None
    broken_at: int | None = None
    problem: str | None = None


async def verify(session: AsyncSession, batch: int = 1000) -> ChainCheck:
    """Walk the whole chain from the first entry, recomputing every hash."""
    prev_hash, prev_seq, count = GENESIS, 0, 0
    while True:
        rows = await repository.batch_after(session, prev_seq, batch)
        if not rows:
            return ChainCheck(True, count, prev_seq or None, prev_hash if count else None)
        for row in rows:
            problem = None
            if row.seq != prev_seq + 1:
                problem = f"entry {prev_seq + 1} is missing"
            elif row.prev_hash != prev_hash:
                problem = "prev_hash does not name the previous entry"
            elif chain_hash(prev_hash, row) != row.hash:
                problem = "the entry's content does not match its hash"
            if problem:
                return ChainCheck(False, count, prev_seq or None, prev_hash, broken_at=row.seq, problem=problem)
            prev_hash, prev_seq, count = row.hash, row.seq, count + 1


def evidence_entry(row: MessageLog) -> dict[str, Any]:
    """One log entry as evidence: everything the hash covers, bodies in base64."""
    return {
        "seq": row.seq, "at": row.at.isoformat(), "direction": row.direction, "partner": row.partner,
        "message_id": row.message_id, "method": row.method, "target": row.target,
        "request_headers": row.request_headers, "request_body_b64": base64.b64encode(row.request_body).decode(),
        "request_body_kept": row.request_body_sha256 is None,
        "response_status": row.response_status, "response_headers": row.response_headers,
        "response_body_b64": base64.b64encode(row.response_body).decode(), "outcome": row.outcome,
        "reason": row.reason, "prev_hash": row.prev_hash, "hash": row.hash,
        "canonical": canonical(row).decode(),
    }


async def evidence(session: AsyncSession, message_id: str) -> dict[str, Any] | None:
    """Every entry of one message (attempts, replays), their place in the chain, and a chain check."""
    rows = await repository.by_message_id(session, message_id)
    if not rows:
        return None
    check = await verify(session)
    return {
        "message_id": message_id, "hash_rule": "sha256(prev_hash + '\\n' + canonical)",
        "entries": [evidence_entry(r) for r in rows],
        "chain": {"ok": check.ok, "entries": check.entries, "head_seq": check.head_seq,
                  "head_hash": check.head_hash, "broken_at": check.broken_at, "problem": check.problem},
    }
