"""Event payloads published by svc-queue (subjects `queue.*`). Version 1: only additive changes.

Payloads never carry resident ID numbers: people are named by their account (`person_sub`),
which a notification service can resolve to a contact.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

HALL_CLOSED = "queue.hall.closed"
HALL_STATS_UPDATED = "queue.hall.stats_updated"
COUNTER_SIGNED_IN = "queue.counter.signed_in"
COUNTER_SIGNED_OUT = "queue.counter.signed_out"
COUNTER_PAUSED = "queue.counter.paused"
COUNTER_RESUMED = "queue.counter.resumed"
TICKET_ISSUED = "queue.ticket.issued"
TICKET_CALLED = "queue.ticket.called"
TICKET_STARTED = "queue.ticket.started"
TICKET_FINISHED = "queue.ticket.finished"
TICKET_SKIPPED = "queue.ticket.skipped"
TICKET_TRANSFERRED = "queue.ticket.transferred"
TICKET_APPROACHING = "queue.ticket.approaching"
TICKET_RATED = "queue.ticket.rated"
TICKET_CANCELLED = "queue.ticket.cancelled"
APPOINTMENT_HELD = "queue.appointment.held"
APPOINTMENT_CONFIRMED = "queue.appointment.confirmed"
APPOINTMENT_CANCELLED = "queue.appointment.cancelled"
APPOINTMENT_CHECKED_IN = "queue.appointment.checked_in"
APPOINTMENT_MISSED = "queue.appointment.missed"
APPOINTMENT_REMINDED = "queue.appointment.reminded"
APPOINTMENT_EXPIRED = "queue.appointment.expired"


class HallClosedV1(BaseModel):
    """A hall closes for a period; `cancelled_appointments` bookings inside it were cancelled, and
    `cancelled_tickets` tickets still waiting when a closure starting now was declared."""

    hall_id: uuid.UUID
    closure_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    cancelled_appointments: int
    cancelled_tickets: int = 0


class HallStatsV1(BaseModel):
    """A hall's figures of one day so far, for live dashboards: published (about once a minute)
    whenever they changed. Each event replaces the previous one for the same hall and day."""

    hall_id: uuid.UUID
    day: dt.date
    tickets: int
    appointments: int
    served: int
    no_shows: int
    missed_appointments: int = 0
    waiting: int = 0
    average_wait_seconds: float | None = None
    average_service_seconds: float | None = None
    ratings: int = 0
    average_rating: float | None = None
    at: dt.datetime


class CounterChangedV1(BaseModel):
    """A counter was signed in or out, paused or resumed (the subject says which)."""

    hall_id: uuid.UUID
    counter_id: uuid.UUID
    counter_number: str
    status: str
    clerk_sub: str | None = None


class TicketV1(BaseModel):
    """A ticket's state after a change: issued, called, started, finished, skipped, transferred,
    cancelled."""

    ticket_id: uuid.UUID
    hall_id: uuid.UUID
    day: dt.date
    number: str
    category: str
    status: str
    priority: int
    channel: str
    person_sub: str | None = None
    item_code: str | None = None
    counter_id: uuid.UUID | None = None
    counter_number: str | None = None
    case_id: str | None = None
    call_count: int = 0
    wait_seconds: float | None = None
    service_seconds: float | None = None
    reason: str | None = None
    at: dt.datetime


class TicketApproachingV1(BaseModel):
    """A remote ticket holder now has `ahead` people or fewer before them: time to come to the hall."""

    ticket_id: uuid.UUID
    hall_id: uuid.UUID
    number: str
    person_sub: str
    ahead: int


class TicketRatedV1(BaseModel):
    ticket_id: uuid.UUID
    hall_id: uuid.UUID
    counter_id: uuid.UUID | None
    rating: int


class AppointmentV1(BaseModel):
    """An appointment's state after a change (held, confirmed, cancelled, checked_in, missed,
    reminded, expired); `reason` says why it was cancelled; `case_id` names the draft case the
    person prefilled, if any."""

    appointment_id: uuid.UUID
    hall_id: uuid.UUID
    category: str
    day: dt.date
    starts: dt.time
    ends: dt.time
    status: str
    person_sub: str
    reason: str | None = None
    ticket_id: uuid.UUID | None = None
    case_id: str | None = None
