"""Every query of the dashboard: the read model of cases and ratings, and today's hall figures
from svc-queue's own tables."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.appointment.models import Appointment
from tongban.queue.dashboard.models import DashboardCase, DashboardRating
from tongban.queue.ticket.models import Ticket

# A case in one of these states is finished: it can no longer run late.
CLOSED_STATES = ("approved", "denied", "refused", "completed", "withdrawn", "revoked")
# The legal clock stands still in these (svc-cases' clock.pause): the deadline is not running.
PAUSED_STATES = ("supplement_requested", "suspended")
# 好差评: 1 very dissatisfied, 2 dissatisfied are the bad ones that need a remedy.
BAD_LEVEL = 2


def _department(column):  # noqa: ANN001, ANN202 - a SQL expression
    """The department, "" for events that name none (a literal, so SELECT and GROUP BY match)."""
    return func.coalesce(column, literal_column("''"))


async def upsert_case(session: AsyncSession, case_id: uuid.UUID, at: dt.datetime, *, case_number: str,
                      item_basic_code: str, department: str | None, state: str | None,
                      facts: dict[str, Any]) -> None:
    """Record what one event says of a case: `facts` (columns set by this kind of event) always;
    the state and deadline only when the event is not older than the last one applied."""
    newer = DashboardCase.state_at <= at
    values = {"case_id": case_id, "case_number": case_number, "item_basic_code": item_basic_code,
              "department": department, "state": state or "unknown", "state_at": at, "instant": False, **facts}
    stmt = insert(DashboardCase).values(**values)
    update: dict[str, Any] = {k: stmt.excluded[k] for k in facts if k != "deadline_on"}
    update["department"] = func.coalesce(stmt.excluded.department, DashboardCase.department)
    if state is not None:
        update["state"] = case((newer, stmt.excluded.state), else_=DashboardCase.state)
        update["state_at"] = func.greatest(DashboardCase.state_at, stmt.excluded.state_at)
    if "deadline_on" in facts:
        update["deadline_on"] = case((newer, stmt.excluded.deadline_on), else_=DashboardCase.deadline_on)
    await session.execute(stmt.on_conflict_do_update(index_elements=["case_id"], set_=update))


async def upsert_rating(session: AsyncSession, rating_id: uuid.UUID, case_id: uuid.UUID, department: str | None,
                        facts: dict[str, Any], remedy_at: dt.datetime | None = None) -> None:
    """Record a rating's level or its remedy's state (a remedy's later state wins)."""
    stmt = insert(DashboardRating).values(rating_id=rating_id, case_id=case_id, department=department, **facts)
    update: dict[str, Any] = {"department": func.coalesce(stmt.excluded.department, DashboardRating.department)}
    if remedy_at is not None:
        later = or_(DashboardRating.remedy_at.is_(None), DashboardRating.remedy_at <= remedy_at)
        for k in ("remedy_state", "remedy_at"):
            update[k] = case((later, stmt.excluded[k]), else_=getattr(DashboardRating, k))
    else:
        update.update({k: stmt.excluded[k] for k in facts})
    await session.execute(stmt.on_conflict_do_update(index_elements=["rating_id"], set_=update))


async def department_figures(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                             day: dt.date, timezone: str) -> list[dict[str, Any]]:
    """Per department: cases received and decided in [start, end), of them instantly approved and
    decided by their deadline; open cases warned (yellow) and overdue (red) now."""
    c = DashboardCase
    received = and_(c.submitted_at >= start, c.submitted_at < end)
    decided = and_(c.decided_at >= start, c.decided_at < end)
    is_open = c.state.not_in(CLOSED_STATES)
    # Past its deadline day and still running (a paused clock's deadline moves when it resumes),
    # or reported overdue by svc-cases' checker.
    overdue = and_(is_open, or_(c.overdue_at.is_not(None), and_(c.deadline_on < day, c.state.not_in(PAUSED_STATES))))
    rows = (await session.execute(select(
        _department(c.department).label("department"),
        func.count().filter(received).label("received"),
        func.count().filter(decided).label("decided"),
        func.count().filter(decided, c.instant).label("instant"),
        func.count().filter(decided, or_(c.deadline_on.is_(None),
                                         func.date(func.timezone(timezone, c.decided_at)) <= c.deadline_on))
        .label("on_time"),
        func.count().filter(overdue).label("overdue"),
        func.count().filter(is_open, c.warned_at.is_not(None), ~overdue).label("warned"),
    ).where(or_(received, decided, and_(is_open, or_(c.warned_at.is_not(None), c.overdue_at.is_not(None),
                                                      c.deadline_on < day))))
        .group_by(_department(c.department)))).mappings().all()
    return [dict(r) for r in rows]


async def rating_figures(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Per department: ratings given in [start, end) and the bad ones among them; bad ratings of
    any day whose remedy is not closed."""
    r = DashboardRating
    today = and_(r.rated_at >= start, r.rated_at < end)
    bad = or_(r.level <= BAD_LEVEL, r.remedy_state.is_not(None))
    still_open = and_(bad, or_(r.remedy_state.is_(None), r.remedy_state != "closed"))
    rows = (await session.execute(select(
        _department(r.department).label("department"),
        func.count().filter(today, r.level.is_not(None)).label("ratings"),
        func.count().filter(today, r.level > BAD_LEVEL).label("good"),
        func.count().filter(today, bad).label("bad"),
        func.count().filter(still_open).label("bad_open"),
    ).where(or_(today, still_open)).group_by(_department(r.department)))).mappings().all()
    return [dict(x) for x in rows]


async def hall_ticket_figures(session: AsyncSession, day: dt.date, hour_ago: dt.datetime,
                              now: dt.datetime) -> dict[uuid.UUID, dict[str, Any]]:
    """Per hall today: waiting tickets, the longest wait of those, tickets taken, served, and
    taken within the last hour."""
    waiting = Ticket.status == "waiting"
    rows = (await session.execute(select(
        Ticket.hall_id,
        func.count().filter(waiting).label("waiting"),
        func.max(func.extract("epoch", now - Ticket.queued_at)).filter(waiting).label("longest_wait"),
        func.count().label("tickets"),
        func.count().filter(Ticket.status == "done").label("served"),
        func.count().filter(Ticket.created_at >= hour_ago).label("last_hour"),
    ).where(Ticket.day == day).group_by(Ticket.hall_id))).mappings().all()
    return {r["hall_id"]: dict(r) for r in rows}


async def tickets_per_hour(session: AsyncSession, day: dt.date, timezone: str) -> dict[int, int]:
    """Tickets taken in the whole city today, by the local hour they were taken."""
    hour = func.extract("hour", func.timezone(timezone, Ticket.created_at))
    rows = (await session.execute(select(hour, func.count()).where(Ticket.day == day).group_by(hour))).all()
    return {int(h): n for h, n in rows}


async def appointment_figures(session: AsyncSession, day: dt.date) -> dict[uuid.UUID, dict[str, int]]:
    """Per hall today: appointments booked (confirmed at some point), kept (checked in), missed."""
    a = Appointment
    rows = (await session.execute(select(
        a.hall_id, func.count().filter(a.confirmed_at.is_not(None)).label("booked"),
        func.count().filter(a.checked_in_at.is_not(None)).label("kept"),
        func.count().filter(a.status == "missed").label("missed"),
    ).where(a.day == day).group_by(a.hall_id))).mappings().all()
    return {r["hall_id"]: {"booked": r["booked"], "kept": r["kept"], "missed": r["missed"]} for r in rows}
