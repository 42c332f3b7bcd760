"""The city's service dashboard: what every hall looks like now and how the departments' cases
and ratings went today.

Hall figures come from svc-queue's own tables; case and rating figures from a read model kept
by svc-cases' events (consumers/cases.py calls `apply_*` here), never from svc-cases' database.
"""

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue import clock
from tongban.queue.config import Settings
from tongban.queue.dashboard import repository
from tongban.queue.dashboard.schemas import Dashboard, DepartmentFigures, HallFigures, HourCount, Totals
from tongban.queue.hall import repository as halls
from tongban.queue.hall import service as hall_service
from tongban.queue.live import repository as live
from tongban.queue.notify import notify_city
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import Envelope

OPENING_HOUR = 8
DECISIONS = {"approved", "denied", "refused"}
# The steps that move a case (CaseTransitionedV1); the others carry payloads of their own.
TRANSITIONS = frozenset({
    contract.CASE_SUBMITTED, contract.CASE_ACCEPTED, contract.CASE_REFUSED, contract.CASE_SUPPLEMENT_REQUESTED,
    contract.CASE_RESUBMITTED, contract.CASE_REVIEW_STARTED, contract.CASE_DENIED, contract.CASE_COMPLETED,
    contract.CASE_WITHDRAWN, contract.CASE_SUSPENDED, contract.CASE_REVOKED, contract.CASE_EXTENDED,
})


async def apply_case_event(session: AsyncSession, event: Envelope) -> bool:
    """Fold one `cases.case.*` event into the read model; False for kinds the dashboard ignores."""
    if event.type == contract.CASE_APPROVED:
        a = contract.CaseApprovedV1.model_validate(event.data)
        await repository.upsert_case(session, a.case_id, a.approved_at, case_number=a.case_number,
                                     item_basic_code=a.item_basic_code, department=a.department, state=a.state,
                                     facts={"decided_at": a.approved_at, "decision": "approved",
                                            "instant": a.rule_version is not None, "deadline_on": a.deadline_on})
    elif event.type in (contract.CASE_DEADLINE_WARNING, contract.CASE_OVERDUE):
        d = contract.CaseDeadlineV1.model_validate(event.data)
        facts: dict[str, Any] = {"warned_at" if d.level == "yellow" else "overdue_at": d.at,
                                 "deadline_on": d.deadline_on}
        await repository.upsert_case(session, d.case_id, d.at, case_number=d.case_number,
                                     item_basic_code=d.item_basic_code, department=d.department, state=None,
                                     facts=facts)
    elif event.type == contract.CASE_DEADLINE_CHANGED:
        c = contract.CaseDeadlineChangedV1.model_validate(event.data)
        await repository.upsert_case(session, c.case_id, c.at, case_number=c.case_number,
                                     item_basic_code=c.item_basic_code, department=c.department, state=None,
                                     facts={"deadline_on": c.deadline_on})
    elif event.type in TRANSITIONS:
        t = contract.CaseTransitionedV1.model_validate(event.data)
        facts = {"deadline_on": t.deadline_on}
        if event.type == contract.CASE_SUBMITTED:
            facts["submitted_at"] = t.at
        if t.state in DECISIONS:
            facts.update(decided_at=t.at, decision=t.state, instant=t.rule_version is not None)
        if event.type == contract.CASE_EXTENDED:
            facts["overdue_at"] = None  # a lawful extension (延期) gives the case a new deadline
        await repository.upsert_case(session, t.case_id, t.at, case_number=t.case_number,
                                     item_basic_code=t.item_basic_code, department=t.department, state=t.state,
                                     facts=facts)
    else:
        return False
    await notify_city(session, "cases")
    return True


async def apply_rating(session: AsyncSession, data: contract.RatingSubmittedV1) -> None:
    await repository.upsert_rating(session, data.rating_id, data.case_id, data.department,
                                   {"level": data.level, "rated_at": data.at})
    await notify_city(session, "ratings")


async def apply_remedy(session: AsyncSession, data: contract.RemedyV1) -> None:
    await repository.upsert_rating(session, data.rating_id, data.case_id, data.department,
                                   {"remedy_state": data.state, "remedy_at": data.at}, remedy_at=data.at)
    await notify_city(session, "ratings")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def dashboard(session: AsyncSession, settings: Settings) -> Dashboard:
    """Today's figures of every hall and department, and the city's totals."""
    now = clock.now()
    day = clock.today(settings)
    start = clock.at_local(settings, day, dt.time(0, 0))
    end = start + dt.timedelta(days=1)
    all_halls = sorted(await halls.all_halls(session), key=lambda h: h.name)
    tickets = await repository.hall_ticket_figures(session, day, now - dt.timedelta(hours=1), now)
    appointments = await repository.appointment_figures(session, day)
    counters = await live.open_counters(session)
    hall_rows = []
    for h in all_halls:
        t = tickets.get(h.id, {})
        a = appointments.get(h.id, {})
        is_open, _ = await hall_service.open_state(session, settings, h)
        longest = t.get("longest_wait")
        hall_rows.append(HallFigures(
            hall_id=h.id, name=h.name, open=is_open, counters_open=counters.get(h.id, 0), waiting=t.get("waiting", 0),
            # queued_at is the database's time, now is the service's: never show a negative wait.
            longest_wait_seconds=max(0, int(longest)) if longest is not None else None,
            tickets=t.get("tickets", 0), served=t.get("served", 0), tickets_last_hour=t.get("last_hour", 0),
            appointments=a.get("booked", 0), appointments_kept=a.get("kept", 0),
            appointments_missed=a.get("missed", 0)))
    departments: dict[str, dict[str, Any]] = {}
    blank = {"received": 0, "decided": 0, "instant": 0, "on_time": 0, "warned": 0, "overdue": 0, "ratings": 0,
             "good": 0, "bad": 0, "bad_open": 0}
    for row in await repository.department_figures(session, start, end, day, settings.timezone):
        departments.setdefault(row["department"], dict(blank)).update(row)
    for row in await repository.rating_figures(session, start, end):
        departments.setdefault(row["department"], dict(blank)).update(row)
    dept_rows = [DepartmentFigures(**{**blank, **d, "department": name,
                                      "on_time_rate": _rate(d.get("on_time", 0), d.get("decided", 0))})
                 for name, d in sorted(departments.items())]
    per_hour = await repository.tickets_per_hour(session, day, settings.timezone)
    # From the usual opening hour (or the first ticket, if earlier) to now (or the last ticket).
    hours = range(min([OPENING_HOUR, *per_hour]), max([clock.local(settings, now).hour, *per_hour]) + 1)

    def total(rows: list, key: str) -> int:
        return sum(getattr(r, key) for r in rows)

    decided, ratings = total(dept_rows, "decided"), total(dept_rows, "ratings")
    totals = Totals(
        waiting=total(hall_rows, "waiting"), counters_open=total(hall_rows, "counters_open"),
        tickets=total(hall_rows, "tickets"), served=total(hall_rows, "served"),
        appointments_kept=total(hall_rows, "appointments_kept"),
        appointments_missed=total(hall_rows, "appointments_missed"),
        received=total(dept_rows, "received"), decided=decided, instant=total(dept_rows, "instant"),
        on_time_rate=_rate(total(dept_rows, "on_time"), decided), overdue=total(dept_rows, "overdue"),
        warned=total(dept_rows, "warned"), ratings=ratings, good_rate=_rate(total(dept_rows, "good"), ratings),
        bad_open=total(dept_rows, "bad_open"))
    return Dashboard(day=day, at=now, totals=totals, halls=hall_rows, departments=dept_rows,
                     tickets_per_hour=[HourCount(hour=h, tickets=per_hour.get(h, 0)) for h in hours])
