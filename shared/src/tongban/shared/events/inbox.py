"""Consume once: durable pull consumers whose handlers run in one transaction with an inbox row.

For each message: open a transaction, insert `(consumer, event_id)` into the inbox with
`ON CONFLICT DO NOTHING`; if the row was already there the event was handled before and only
the ack is repeated; otherwise run the handler in the same transaction. Ack only after the
commit. A transient failure is nak'ed with a delay; a poison message (unparseable, or one
that keeps failing until `max_deliver`) is terminated and kept as a dead letter.

A subscription may let several fetched messages share one transaction (`together` > 1: the
gateway's notifier, whose per-event work is a few small inserts and whose commit is most of the
cost). Their inbox rows go in with one insert and their handlers run in order in that one
transaction; all are acked only after its commit. So a crash anywhere before the commit leaves
no inbox row and no effect (every message is delivered again), and after it every message is
found in the inbox (acked again, never applied twice). If any handler of the group fails, the
whole group is rolled back and each message is applied on its own, as above, so one poison
message costs the others nothing but a second try.

A consumer may also `linger`: after the first message of a quiet spell it waits that long before
taking what has come meanwhile, so a steady stream is handled in groups (one fetch, one
transaction, one commit for many events) instead of one unit of work per event; each event then
waits at most `linger` seconds longer (a quarter of a second for a notifier nobody waits on, a few
hundredths where someone does). A `group_handler` may then apply a group's events at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.shared.events.bus import stream_name
from tongban.shared.events.envelope import Envelope
from tongban.shared.tables import PlatformTables
from tongban.shared.tracing import span

log = logging.getLogger("tongban.inbox")
Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
GroupHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]
IDLE_POLL = 1.0     # seconds a quiet consumer's long poll lasts before it checks `stop` again
DRAIN_WAIT = 0.005  # how long a busy consumer's batch fetch waits for more than is already there
CHECK_EVERY = 30    # idle polls between two checks that the durable consumer still exists


class PoisonMessage(Exception):
    """Raised by a handler for an event it can never apply; the event goes to the dead letters."""


@dataclass(frozen=True)
class Subscription:
    """One durable consumer: which publisher's stream, which subjects, and the handler."""

    source: str        # the publishing service, e.g. "catalog"
    subject: str       # filter, e.g. "catalog.item.>"
    durable: str       # e.g. "cases-catalog-item"
    handler: Handler
    max_deliver: int = 10
    ack_wait: float = 30.0
    together: int = 1  # fetched messages that may share one transaction (see the module's note)
    linger: float = 0.0  # seconds to wait after a quiet spell's first message for more (see the note)
    # Applies a group's new events at once, as `handler` would one after another (one read and one
    # write for the lot, say); None: `handler` per event. A failing group is redone by `handler`.
    group_handler: GroupHandler | None = None


class Consumer:
    def __init__(self, sub: Subscription, sessionmaker: async_sessionmaker[AsyncSession],
                 tables: PlatformTables, js: Callable[[], JetStreamContext], batch: int = 50) -> None:
        self.sub = sub
        self.sessionmaker = sessionmaker
        self.tables = tables
        self.js = js
        self.batch = batch
        self.handled = 0

    async def run(self, stop: asyncio.Event) -> None:
        psub = None
        idle = 0
        backlog = False
        while not stop.is_set():
            try:
                if psub is None:
                    psub = await self._subscribe()
                # Idle: one long poll that returns with the first message. A batch fetch here would
                # hold that message until the batch filled or its timeout ran out (nats.py collects
                # up to the deadline once a message came): up to a second on every quiet moment.
                msgs = await psub.fetch(1, timeout=IDLE_POLL)
                if self.sub.linger > 0:
                    if not backlog:
                        await _sleep_or_stop(stop, self.sub.linger)
                    msgs += await self._waiting(psub, self.batch - len(msgs))
                    backlog = len(msgs) >= self.batch   # a full group: more may wait, take them at once
                    await self.handle_all(msgs)
                    continue
                while msgs:
                    await self.handle_all(msgs)
                    # Busy: take what is already waiting, without lingering for more.
                    msgs = await self._waiting(psub, self.batch)
            except TimeoutError:
                idle += 1
                backlog = False
                if idle % CHECK_EVERY == 0 and psub is not None and not await _consumer_exists(psub):
                    log.warning("consumer %s is gone (a new NATS server?); creating it again", self.sub.durable)
                    psub = None
                continue
            except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                # Bind again next time (the durable is created if a new server lost it): a pull
                # subscription to a consumer that is gone would otherwise time out for ever.
                log.warning("consumer %s cannot fetch yet: %s", self.sub.durable, exc)
                psub = None
                await _sleep_or_stop(stop, 0.5)
                continue

    async def handle_all(self, msgs: list[Msg]) -> None:
        """Handle what one fetch returned: in groups of `together` if allowed, else one by one."""
        if self.sub.together > 1 and len(msgs) > 1:
            for k in range(0, len(msgs), self.sub.together):
                await self.handle_together(msgs[k:k + self.sub.together])
        else:
            for msg in msgs:
                await self.handle(msg)

    async def _waiting(self, psub, most: int) -> list[Msg]:  # noqa: ANN001 - nats' pull subscription type is private
        """What is already waiting on the server, up to `most` messages, without lingering for more."""
        if most <= 0:
            return []
        try:
            return await psub.fetch(most, timeout=DRAIN_WAIT)
        except TimeoutError:  # nats.errors.TimeoutError or asyncio's: nothing more now
            return []

    async def _subscribe(self):  # noqa: ANN202 - nats' pull subscription type is private
        config = ConsumerConfig(
            durable_name=self.sub.durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.sub.max_deliver, ack_wait=self.sub.ack_wait, filter_subject=self.sub.subject,
            max_ack_pending=1000,
        )
        return await self.js().pull_subscribe(self.sub.subject, durable=self.sub.durable,
                                              stream=stream_name(self.sub.source), config=config)

    async def handle(self, msg: Msg) -> None:
        """Apply one message at most once, then ack; nak, or dead-letter and term, on failure."""
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        try:
            event = Envelope.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._dead_letter(msg, None, f"unreadable envelope: {exc}", deliveries)
            return
        tp = (msg.headers or {}).get("traceparent") or event.traceparent
        try:
            with span(f"consume {msg.subject}", SpanKind.CONSUMER, {"traceparent": tp} if tp else None):
                await self._apply(event, msg.subject)
        except (PoisonMessage, ValidationError) as exc:
            await self._dead_letter(msg, event, f"{type(exc).__name__}: {exc}", deliveries)
            return
        except Exception as exc:  # noqa: BLE001 - anything else may be transient: retry, bounded
            if deliveries >= self.sub.max_deliver:
                await self._dead_letter(msg, event, f"gave up after {deliveries} deliveries: {exc!r}", deliveries)
            else:
                log.warning("handler %s failed on %s (delivery %d): %r", self.sub.durable, event.id, deliveries, exc)
                await msg.nak(delay=min(30.0, 0.5 * 2 ** deliveries))
            return
        self.handled += 1
        await msg.ack()

    async def handle_together(self, msgs: list[Msg]) -> None:
        """Apply a group of messages in one transaction, then ack them all; if anything in it fails
        (or a message is unreadable), roll it all back and handle each message alone."""
        try:
            events = [Envelope.model_validate_json(m.data) for m in msgs]
        except ValidationError:
            for msg in msgs:
                await self.handle(msg)
            return
        try:
            with span(f"consume {len(msgs)} of {self.sub.subject}", SpanKind.CONSUMER):
                async with self.sessionmaker() as session, session.begin():
                    first = set((await session.execute(_first_time(self.tables.inbox), {
                        "consumer": self.sub.durable, "ids": [e.id for e in events],
                        "subjects": [m.subject for m in msgs]})).scalars())
                    fresh = []
                    for event in events:
                        if event.id in first:
                            first.discard(event.id)   # the same event twice in one group: applied once
                            fresh.append(event)
                    if self.sub.group_handler is not None and len(fresh) > 1:
                        await self.sub.group_handler(session, fresh)
                    else:
                        for event in fresh:
                            await self.sub.handler(session, event)
        except Exception as exc:  # noqa: BLE001 - rolled back: each message gets its own transaction and verdict
            log.info("group of %d on %s rolled back (%r); handling each alone", len(msgs), self.sub.durable, exc)
            for msg in msgs:
                await self.handle(msg)
            return
        self.handled += len(msgs)
        for msg in msgs:
            await msg.ack()

    async def _apply(self, event: Envelope, subject: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            first = (await session.execute(_first_time(self.tables.inbox), {
                "consumer": self.sub.durable, "ids": [event.id], "subjects": [subject]})).first()
            if first is not None:
                await self.sub.handler(session, event)

    async def _dead_letter(self, msg: Msg, event: Envelope | None, error: str, deliveries: int) -> None:
        log.error("dead letter on %s: %s", self.sub.durable, error)
        async with self.sessionmaker() as session, session.begin():
            await session.execute(self.tables.dead_letter.insert().values(dead_letter_row(
                self.sub.durable, str(event.id) if event else None, msg.subject,
                msg.data.decode("utf-8", errors="replace"), error, deliveries)))
        await msg.term()


_FIRST_TIME: dict[Table, TextClause] = {}


def _first_time(inbox: Table) -> TextClause:
    """The inbox rows of a consumer's events (one or a group), the ids of those it had not seen
    returned: one statement text for any group size, built once per table and its values bound
    per call (building a multi-row INSERT per group was most of the inbox's own CPU)."""
    stmt = _FIRST_TIME.get(inbox)
    if stmt is None:
        name = f'"{inbox.schema}"."{inbox.name}"' if inbox.schema else f'"{inbox.name}"'
        stmt = _FIRST_TIME[inbox] = text(
            f"INSERT INTO {name} (consumer, event_id, subject) "
            "SELECT :consumer, u.event_id, u.subject FROM unnest(CAST(:ids AS uuid[]), CAST(:subjects AS varchar[])) "
            "AS u(event_id, subject) ON CONFLICT DO NOTHING RETURNING event_id").columns(inbox.c.event_id)
    return stmt


def dead_letter_row(consumer: str, event_id: str | None, subject: str, payload: str, error: str,
                    deliveries: int) -> dict[str, Any]:
    """A dead letter's row: what a consumer could not handle, kept for an operator to look at and
    replay (the error cut to the column's 4,000 characters)."""
    return {"consumer": consumer, "event_id": event_id, "subject": subject, "payload": payload,
            "error": error[:4000], "deliveries": deliveries}


async def _consumer_exists(psub: JetStreamContext.PullSubscription) -> bool:
    try:
        await psub.consumer_info()
    except nats.js.errors.NotFoundError:
        return False
    except (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError):
        return True  # cannot tell now: the next fetch or check will
    return True


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return
