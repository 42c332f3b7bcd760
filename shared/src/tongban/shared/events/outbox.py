"""Transactional outbox: an event is written in the same transaction as the change it reports,
and a relay publishes it to JetStream afterwards.

`Outbox.add` inserts the row and wakes the relay right after the commit (never for a rolled-back
transaction): directly when the relay runs in this process on the same database, else by a NOTIFY
(`db.notify_after_commit`), so the relay wakes at once after the business transaction commits
instead of polling slowly. The relay leases due rows
with `FOR UPDATE SKIP LOCKED` in a statement committed on its own (so replicas share the work and
no transaction stays open while JetStream answers), publishes each with `Nats-Msg-Id = event id`
(so a publish repeated after a crash, or after a lease ran out, is dropped by JetStream's
duplicate window, and by the consumers' inbox after it), marks what was acknowledged, and backs
off per row on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind
from sqlalchemy import Table, event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from tongban.shared.db import BatchedInsert, listen, notify_after_commit, write_last
from tongban.shared.events.envelope import Envelope
from tongban.shared.logging import request_id_var
from tongban.shared.tracing import current_traceparent, span

log = logging.getLogger("tongban.outbox")
NOTIFY_CHANNEL = "tongban_outbox"
MAX_BACKOFF = 60.0
IDLE_POLL = 5.0  # a safety net only: NOTIFY wakes the relay at commit
PUBLISH_TIMEOUT = 2.0  # seconds for JetStream to acknowledge a pass's events
# A claimed row is due again this many seconds after its claim unless the pass marks it: the pass
# publishes within PUBLISH_TIMEOUT, so only a relay that died (or lost its database) mid-pass
# leaves a row to run out; well inside bus.DUPLICATE_WINDOW, so JetStream drops the repeat.
LEASE_SECONDS = 15.0
# A pass's "sent" marks wait this long for the next pass, whose claim writes them in its own
# statement (one statement and one durable commit fewer per pass while events keep coming); when no
# pass comes meanwhile they are written alone. Unmarked rows are leased, so nothing sends them again
# unless the process dies first: then they go again when their lease runs out, and JetStream drops
# the repeat (Nats-Msg-Id), as for a relay that died between publishing and marking.
MARK_DEFER = 0.05


class Claimed(NamedTuple):
    """A leased row, as the claim returns it (the envelope as PostgreSQL's text of it)."""

    id: uuid.UUID
    subject: str
    envelope: str
    traceparent: str | None
    attempts: int
    created_at: dt.datetime


def _claim_sql(name: str, marking: bool = False) -> str:
    """The claim (db.write_last's parameters: $1 the batch, $2 the lease in seconds); `marking`:
    with the previous pass's sent rows ($3) marked by the same statement (a data-modifying CTE; the
    claim skips them, leased anyway, so no row is changed twice).
    `= ANY(ARRAY(...))`: the claimed ids are looked up by primary key (an `IN (subquery)` was
    planned as a scan of the whole table). The envelope comes back as PostgreSQL's text of it and
    is published as it is: no JSON decoding into a dict and encoding again per event (its
    traceparent is read out apart)."""
    marks = f"WITH sent AS (UPDATE {name} SET published_at = now() WHERE id = ANY($3::uuid[])) " if marking else ""
    skip = "AND id <> ALL($3::uuid[]) " if marking else ""
    return (f"{marks}UPDATE {name} SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = ANY(ARRAY("
            f"SELECT id FROM {name} WHERE published_at IS NULL AND next_attempt_at <= now() {skip}"
            "ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)) "
            "RETURNING id, subject, envelope::text AS envelope, envelope->>'traceparent' AS traceparent, "
            "attempts, created_at")


def backoff_seconds(attempts: int) -> float:
    return min(MAX_BACKOFF, 0.25 * 2 ** max(0, attempts - 1))


class Outbox:
    """A service's outbox table and the way to add events to it."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.channel = f"{NOTIFY_CHANNEL}_{table.schema}"
        self._rows = BatchedInsert(table, f"outbox_batch_{table.schema}")

    async def add(self, session: AsyncSession, event: Envelope) -> None:
        """Add `event` to the current transaction; it is published only if the transaction commits."""
        if event.correlationid is None:
            event.correlationid = request_id_var.get()
        row = {"id": event.id, "subject": event.type, "envelope": event.model_dump(mode="json")}
        if not await self._rows.insert(session, row):
            return  # kept for the batch, which wakes the relay once at its end
        await self._wake_after_commit(session)

    async def _wake_after_commit(self, session: AsyncSession) -> None:
        """Wake a relay once the transaction commits (it publishes every due row). The relay running
        in this process, on this database, is woken directly; else one NOTIFY per transaction,
        sent after the commit (db.notify_after_commit: a NOTIFY inside the transaction serialises
        commits), wakes whichever relay listens (a worker process of its own, another replica)."""
        engine = session.bind.sync_engine if isinstance(session.bind, AsyncEngine) else None
        relay = _local_relays.get((engine, self.channel))
        if relay is None:
            await notify_after_commit(session, self.channel)
        else:
            session.info.setdefault(_WAKE_KEY, set()).add(relay)

    @contextlib.asynccontextmanager
    async def batched(self, session: AsyncSession) -> AsyncIterator[None]:
        """Within the block, events are written with one multi-row INSERT (and one NOTIFY) at its
        end, still in the business transaction. An error in the block writes nothing."""
        async with self._rows.batched(session) as rows:
            yield
        if rows:
            await self._wake_after_commit(session)

    async def backlog(self, session: AsyncSession) -> tuple[int, float]:
        """Unpublished events and the age in seconds of the oldest one."""
        row = (await session.execute(
            select(func.count(), func.min(self.table.c.created_at)).where(self.table.c.published_at.is_(None))
        )).one()
        age = (dt.datetime.now(dt.UTC) - row[1]).total_seconds() if row[1] else 0.0
        return int(row[0]), age


class OutboxRelay:
    """Publishes a service's outbox to JetStream until `stop` is set."""

    def __init__(self, outbox: Outbox, sessionmaker: async_sessionmaker[AsyncSession],
                 js: Callable[[], JetStreamContext], listen_dsn: str, batch: int = 200,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.outbox = outbox
        self.lease_seconds = lease_seconds
        self.sessionmaker = sessionmaker
        self.js = js
        self.listen_dsn = listen_dsn
        self.batch = batch
        self._wake = asyncio.Event()
        self._js: JetStreamContext | None = None
        self.published = 0
        self._unmarked: list[uuid.UUID] = []   # published, to be marked by the next claim (MARK_DEFER)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop), name="outbox-listen")
        bind = self.sessionmaker.kw.get("bind")
        local = (bind.sync_engine, self.outbox.channel) if isinstance(bind, AsyncEngine) else None
        if local is not None:
            _local_relays[local] = self   # this process's commits wake it directly (Outbox.add)
        try:
            while not stop.is_set():
                # Cleared before the pass, not after: a NOTIFY for a row committed after the pass's
                # SELECT began must wake the next pass, not wait for the idle poll.
                self._wake.clear()
                try:
                    _, more_due, next_due = await self.publish_due(defer_marks=True)
                except Exception:  # noqa: BLE001 - the relay must outlive a database hiccup; it is logged
                    log.exception("outbox relay pass failed")
                    more_due, next_due = False, 1.0
                if more_due:
                    continue
                wait = min(IDLE_POLL, next_due) if next_due is not None else IDLE_POLL
                if self._unmarked:
                    if await self._woken(stop, min(wait, MARK_DEFER)):
                        continue   # the next pass's claim marks them
                    await self._mark_deferred()   # no pass came: marked alone
                    wait = max(0.0, wait - MARK_DEFER)
                await self._woken(stop, wait)
        finally:
            try:
                await self._mark_deferred()
            finally:
                if local is not None and _local_relays.get(local) is self:
                    del _local_relays[local]
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def _woken(self, stop: asyncio.Event, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a wake-up or `stop`; whether one came."""
        if not (self._wake.is_set() or stop.is_set()):
            stop_wait = asyncio.create_task(stop.wait())
            wake_wait = asyncio.create_task(self._wake.wait())
            await asyncio.wait({stop_wait, wake_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            wake_wait.cancel()
        return self._wake.is_set() or stop.is_set()

    async def _mark_deferred(self) -> None:
        """Mark the last pass's sent rows alone (no pass came to carry them, or the relay stops)."""
        if not self._unmarked:
            return
        try:
            await self._alone(self._mark_sent_sql, self._unmarked)
        except Exception:  # noqa: BLE001 - left leased: sent again after the lease, dropped as a duplicate
            log.warning("marking %d published events failed; the next pass marks them", len(self._unmarked),
                        exc_info=True)
            return
        self._unmarked = []

    async def publish_due(self, defer_marks: bool = False) -> tuple[int, bool, float | None]:
        """One pass: publish up to `batch` due rows. Returns (sent, more due now, seconds to next due).
        `defer_marks` (the running relay): the sent rows are marked by the next pass's claim, or
        alone after MARK_DEFER (`run`), instead of by a statement of this pass.

        Three steps, none holding a transaction open while JetStream answers:
        1. one statement, its own transaction (no BEGIN or COMMIT round trips), leases the due
           rows (`next_attempt_at` moved `lease_seconds` ahead: another relay skips them, `FOR
           UPDATE SKIP LOCKED` while the statement runs, not due after it);
        2. they are published, in order, and their acknowledgements awaited together;
        3. one statement, its own transaction again, marks them sent (with `defer_marks`, the next
           pass's claim does); when some failed, one transaction marks the acknowledged rows sent
           and puts each failed one back with its backoff.
        A running relay's pass is one round trip while events keep coming (its claim marks the
        last pass's rows; each statement alone, db.write_last): with BEGIN and COMMIT around the
        claim and the marks it was six.
        A crash after 1 leaves the rows leased, unsent: due again when the lease runs out, then
        published again and dropped as a duplicate by JetStream (`Nats-Msg-Id`) or by the
        consumers' inbox. A transaction held open through step 2 (the claim and the marks as one,
        as before) kept PostgreSQL from pruning every row version deleted meanwhile: under
        svc-queue's call-next load each claim of the next ticket stepped over ~700 dead index
        entries (bench/queue_calls.py --statements)."""
        if self._unmarked:   # the previous pass's marks, in this claim's statement
            claimed = await self._alone(self._claim_marking_sql, self.batch, self.lease_seconds, self._unmarked)
            self._unmarked = []
        else:
            claimed = await self._alone(self._claim_sql, self.batch, self.lease_seconds)
        rows = [Claimed(*r) for r in claimed]
        if not rows:
            nxt = (await self._alone(self._next_due_sql))[0][0]
            return 0, False, max(0.05, float(nxt)) if nxt is not None else None
        rows.sort(key=lambda r: r.created_at)
        errors = await self._publish(rows)
        sent_ids = [r.id for r in rows if r.id not in errors]
        if not errors:
            if defer_marks:
                self._unmarked = sent_ids
            else:
                await self._alone(self._mark_sent_sql, sent_ids)
            self.published += len(sent_ids)
            return len(sent_ids), len(sent_ids) == self.batch, None
        t = self.outbox.table
        async with self.sessionmaker() as session, session.begin():
            if sent_ids:
                await session.execute(self._mark_sent, {"ids": sent_ids})
            for row in rows:
                if row.id not in errors:
                    continue
                exc = errors[row.id]
                # Not acknowledged (NATS is likely down; a later pass sends it again), or never sent
                # (the rest of the pass after a send failed: due again at once, no attempt counted).
                delay = backoff_seconds(row.attempts + 1) if exc is not None else 0.0
                values: dict[str, Any] = {"next_attempt_at": func.now() + dt.timedelta(seconds=delay)}
                if exc is not None:
                    values |= {"attempts": t.c.attempts + 1, "last_error": f"{type(exc).__name__}: {exc}"[:1000]}
                    log.warning("publish of %s failed (%s); retry in %.1fs", row.subject, exc, delay)
                await session.execute(update(t).where(t.c.id == row.id).values(**values))
        self.published += len(sent_ids)
        return len(sent_ids), False, backoff_seconds(1)

    async def _publish(self, rows: list) -> dict[Any, Exception | None]:
        """Send every row, in order, then wait for JetStream's acknowledgements together (one wait
        for the pass, not one round trip per event: a busy process's relay publishes a pass in
        one turn of its event loop). Returns the rows not acknowledged: id -> the error (None for
        a row not sent because an earlier send failed)."""
        js = self._jetstream()
        futures: list[asyncio.Future] = []
        errors: dict[Any, Exception | None] = {}
        for k, row in enumerate(rows):
            tp = row.traceparent
            try:
                with span(f"publish {row.subject}", SpanKind.PRODUCER, {"traceparent": tp} if tp else None):
                    headers = {"Nats-Msg-Id": str(row.id)}
                    if (own := current_traceparent()) is not None:
                        headers["traceparent"] = own
                    futures.append(await js.publish_async(row.subject, row.envelope.encode(), wait_stall=PUBLISH_TIMEOUT,
                                                          headers=headers))
            except Exception as exc:  # noqa: BLE001 - any publish failure is retried with backoff
                errors[row.id] = exc
                errors.update((r.id, None) for r in rows[k + 1:])
                break
        if futures:
            done, pending = await asyncio.wait(futures, timeout=PUBLISH_TIMEOUT)
            for row, future in zip(rows, futures, strict=False):
                if future in pending:
                    future.cancel()
                    errors[row.id] = TimeoutError(f"no acknowledgement within {PUBLISH_TIMEOUT} s")
                elif (exc := future.exception()) is not None:
                    errors[row.id] = exc
        return errors

    def _jetstream(self) -> JetStreamContext:
        # One context for the relay's life: its asynchronous publishes share one reply subscription.
        js = self.js()
        if self._js is None or self._js._nc is not js._nc:
            self._js = js
        return self._js

    async def _alone(self, sql: str, *args: Any) -> list:
        """`sql` as a transaction of its own: one round trip (db.write_last), committed durably."""
        async with self.sessionmaker() as session:
            rows = await write_last(session, sql, *args)
            await session.commit()
        return rows

    @functools.cached_property
    def _name(self) -> str:
        t = self.outbox.table
        return f'"{t.schema}"."{t.name}"'

    @functools.cached_property
    def _claim_sql(self) -> str:
        return _claim_sql(self._name)

    @functools.cached_property
    def _claim_marking_sql(self) -> str:
        return _claim_sql(self._name, marking=True)

    @functools.cached_property
    def _mark_sent_sql(self) -> str:
        return f"UPDATE {self._name} SET published_at = now() WHERE id = ANY($1::uuid[])"

    @functools.cached_property
    def _next_due_sql(self) -> str:
        return f"SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM {self._name} WHERE published_at IS NULL"

    @functools.cached_property
    def _mark_sent(self):  # noqa: ANN202 - a SQLAlchemy text clause (a pass with failures: in its transaction)
        return text(f"UPDATE {self._name} SET published_at = now() WHERE id = ANY(:ids)")

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake on every committed NOTIFY; on (re)connecting, catch up on what was committed meanwhile."""
        await listen(self.listen_dsn, self.outbox.channel, lambda _payload: self._wake.set(), stop,
                     on_connected=lambda up: self._wake.set() if up else None)


# The relays running in this process, by (engine, channel): a commit through that engine wakes its
# relay without a NOTIFY's round trip (and the listening connection's wake-up).
_local_relays: dict[tuple[Any, str], OutboxRelay] = {}
_WAKE_KEY = "tongban_outbox_wake"


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction itself commits later
    for relay in session.info.pop(_WAKE_KEY, ()):
        relay.wake()


@event.listens_for(Session, "after_transaction_end")
def _forget_wakes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WAKE_KEY, None)  # rolled back (after a commit they were woken already)

