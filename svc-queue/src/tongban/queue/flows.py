"""Flows that span aggregates, above them all: the aggregates (hall ← counter ← ticket ←
appointment ← live) import one way, downwards, and never this module.

- closing a hall cancels the bookings inside the closure and, when it has begun, today's
  waiting tickets;
- a clerk signing out of a counter sends the tickets transferred to it back to their line.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.queue import clock
from tongban.queue.appointment import service as appointments
from tongban.queue.config import Settings
from tongban.queue.counter import service as counters
from tongban.queue.counter.models import Counter
from tongban.queue.db import audit, outbox
from tongban.queue.hall import service as halls
from tongban.queue.hall.models import HallClosure
from tongban.queue.hall.schemas import ClosureCreate
from tongban.queue.ticket import repository as tickets
from tongban.queue.ticket import service as ticket_service
from tongban.shared.auth import Principal
from tongban.shared.contracts.queue import HALL_CLOSED, HallClosedV1
from tongban.shared.events.envelope import make_event


async def close_hall(session: AsyncSession, settings: Settings, hall_id: uuid.UUID, data: ClosureCreate,
                     actor: Principal) -> tuple[HallClosure, int, int]:
    """Record a closure and cancel the bookings inside it, telling each person (events). A closure
    that has begun also cancels today's waiting tickets (their holders are told too)."""
    closure = await halls.add_closure(session, hall_id, data, actor)
    cancelled = await appointments.cancel_for_closure(session, settings, hall_id, data.starts_at, data.ends_at,
                                                      data.reason, actor)
    tickets_cancelled = 0
    if data.starts_at <= clock.now() < data.ends_at:
        tickets_cancelled = await ticket_service.cancel_for_closure(session, settings, hall_id, data.reason, actor)
    await outbox.add(session, make_event("queue", HALL_CLOSED, HallClosedV1(
        hall_id=hall_id, closure_id=closure.id, starts_at=data.starts_at, ends_at=data.ends_at, reason=data.reason,
        cancelled_appointments=cancelled, cancelled_tickets=tickets_cancelled), subject=str(hall_id)))
    await audit.record(session, actor, "hall.closed", "hall", str(hall_id), reason=data.reason,
                       detail={"closure_id": str(closure.id), "cancelled_appointments": cancelled,
                               "cancelled_tickets": tickets_cancelled})
    return closure, cancelled, tickets_cancelled


async def sign_out(session: AsyncSession, counter_id: uuid.UUID, actor: Principal) -> Counter:
    """The clerk leaves the counter; tickets transferred to it would wait for nobody, so they go
    back to their category's line."""
    counter = await counters.sign_out(session, counter_id, actor)
    for ticket in await tickets.release_targeted(session, counter.id):
        await audit.record(session, actor, "ticket.released", "ticket", str(ticket.id),
                           reason=f"counter {counter.number} signed out")
    return counter
