import datetime as dt
import functools
import uuid
from dataclasses import dataclass

from sqlalchemy import (JSON, Date, Integer, Select, String, and_, bindparam, exists, false, func, null, or_, outerjoin,
                        select, true)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from tongban.cases.case.clock import RUNNING
from tongban.cases.case.models import Case, CaseNumberSequence, CaseTimelineEntry
from tongban.cases.catalog_copy.models import CatalogImplementation, CatalogItem
from tongban.cases.item_config.models import ItemConfig
from tongban.cases.policy import POLICY
from tongban.cases.rule.models import ApprovalRule
from tongban.cases.workday.repository import days_json, parse_days
from tongban.shared.auth import Principal
from tongban.shared.db import BatchedInsert
from tongban.shared.errors import AppError
from tongban.shared.policy import Clause, admit


@dataclass(frozen=True)
class SubmissionContext:
    """What a submission reads before it writes."""

    item: CatalogItem | None                      # the newest version in the read copy
    config: ItemConfig | None
    implementation: CatalogImplementation | None  # by the code given, else the city's
    rule: ApprovalRule | None                     # the current rule if active (None for drafts)
    overrides: dict[dt.date, bool]                # working-day overrides from `today` on
    offered_anywhere: bool = False                # some city implements the item (read copy)
    now: dt.datetime | None = None                # the transaction's now() (a new row's created_at)


async def submission_context(session: AsyncSession, basic_code: str, implementation_code: str | None,
                             city_code: str, today: dt.date, with_rule: bool) -> SubmissionContext:
    """The item, its configuration, its implementation, its current rule and the calendar's
    overrides in one round trip (the 秒批 path counts its round trips): each part a one-row
    subquery left-joined to the item, the overrides aggregated into one JSON column, and whether
    any city implements the item (`offered_anywhere`). The
    statement is built once per shape, its values bound per call (`_context_statement`)."""
    params = {"basic_code": basic_code, "city_code": city_code, "today": today}
    if implementation_code:
        params["implementation_code"] = implementation_code
    row = (await session.execute(_context_statement(bool(implementation_code), with_rule), params)).first()
    if row is None:
        return SubmissionContext(None, None, None, None, {})
    found_rule = row[3] if with_rule else None
    return SubmissionContext(row[0], row[1], row[2], found_rule if found_rule is not None and found_rule.active
                             else None, parse_days(row[-3]), bool(row[-2]), row[-1])


@functools.cache
def _context_statement(by_implementation_code: bool, with_rule: bool) -> Select:
    """`submission_context`'s statement for one shape, with bound parameters (basic_code,
    city_code, today, implementation_code): built and cache-keyed once per process instead of
    once per submission (building it was a tenth of the service's CPU per 秒批 submission)."""
    basic_code = bindparam("basic_code", type_=String)
    config = select(ItemConfig).where(ItemConfig.basic_code == basic_code).subquery()
    where = (CatalogImplementation.code == bindparam("implementation_code", type_=String) if by_implementation_code
             else and_(CatalogImplementation.basic_code == basic_code,
                       CatalogImplementation.city_code == bindparam("city_code", type_=String)))
    impl = select(CatalogImplementation).where(where).order_by(CatalogImplementation.version.desc()).limit(1).subquery()
    overrides = days_json(bindparam("today", type_=Date))
    joined = outerjoin(outerjoin(CatalogItem.__table__, config, true()), impl, true())
    entities = [CatalogItem, aliased(ItemConfig, config), aliased(CatalogImplementation, impl)]
    if with_rule:
        rule = (select(ApprovalRule).where(ApprovalRule.basic_code == basic_code)
                .order_by(ApprovalRule.version.desc()).limit(1).subquery())
        joined = outerjoin(joined, rule, true())
        entities.append(aliased(ApprovalRule, rule))
    # Whether any city implements the item: asked only when this city has no implementation, but
    # answered here by an index probe instead of a second round trip then.
    anywhere = exists().where(CatalogImplementation.basic_code == basic_code)
    # now(): the transaction's start, a new case's created_at (repository.add_new).
    return (select(*entities, overrides, anywhere, func.now()).select_from(joined)
            .where(CatalogItem.basic_code == basic_code).order_by(CatalogItem.version.desc()).limit(1))


async def next_number(session: AsyncSession, city_code: str, day: dt.date) -> int:
    """The next number of the city's day (the row lock serialises concurrent submissions briefly)."""
    return int((await session.execute(_NUMBERS, {"city_code": city_code, "on_date": day, "count": 1})).scalar_one())


async def add(session: AsyncSession, case: Case) -> None:
    session.add(case)
    await session.flush()


async def reserve_numbers(session: AsyncSession, city_code: str, day: dt.date, count: int) -> int:
    """`count` consecutive numbers of the city's day at once (a flow opening many cases); the first."""
    params = {"city_code": city_code, "on_date": day, "count": count}
    return int((await session.execute(_NUMBERS, params)).scalar_one()) - count + 1


def _numbers_statement():  # noqa: ANN202 - a Core INSERT ... ON CONFLICT ... RETURNING
    """`count` more numbers of a city's day, the last one returned: built once per process with its
    values bound per call (building it per submission was a twentieth of svc-cases' CPU on 秒批)."""
    t = CaseNumberSequence.__table__
    count = bindparam("count", type_=Integer)
    return (insert(t).values(city_code=bindparam("city_code", type_=String), on_date=bindparam("on_date", type_=Date),
                             last_value=count)
            .on_conflict_do_update(index_elements=[t.c.city_code, t.c.on_date],
                                   set_={"last_value": t.c.last_value + count})
            .returning(t.c.last_value))


_NUMBERS = _numbers_statement()


def add_unflushed(session: AsyncSession, case: Case) -> None:
    """Goes in with the next statement's flush (the caller sets its state first)."""
    session.add(case)


# New cases and timeline entries are kept with the transaction's connection and written with its
# audit and outbox rows in one statement before its next statement or COMMIT (tongban.shared.db):
# no ORM unit of work, and a 秒批 submission's rows go in with one round trip.
_NEW_CASES = BatchedInsert(Case.__table__, "cases_new_case_batch")
_ENTRIES = BatchedInsert(CaseTimelineEntry.__table__, "cases_timeline_batch")
_ENTRY_COLUMNS = tuple(c for c in CaseTimelineEntry.__table__.columns if c.key not in ("id", "at"))


async def add_new(session: AsyncSession, case: Case, now: dt.datetime) -> None:
    """A new case, as decided (its state set): its row is kept for the transaction's batch. The
    object stays outside the session, so nothing later in this transaction may change it through
    the ORM; `now` is the transaction's now(), the created_at the server would give."""
    case.created_at = case.updated_at = now
    await _NEW_CASES.insert(session, _row(Case.__table__.columns, case))


async def add_entry(session: AsyncSession, entry: CaseTimelineEntry) -> None:
    """Kept for the transaction's batch (written before its next statement; the ORM's pending
    changes, the case's own, are flushed first)."""
    await _ENTRIES.insert(session, _row(_ENTRY_COLUMNS, entry))


def _row(columns, obj: object) -> dict:  # noqa: ANN001 - a column collection or a tuple of columns
    row = {c.key: getattr(obj, c.key) for c in columns}
    for c in columns:   # a JSON column's None is SQL NULL (as for an attribute never set), not JSON null
        if row[c.key] is None and isinstance(c.type, JSON):
            row[c.key] = null()
    return row


async def get(session: AsyncSession, case_id: uuid.UUID, for_update: bool = False) -> Case | None:
    return (await session.execute(_GET_LOCKED if for_update else _GET, {"case_id": case_id})).scalar_one_or_none()


# Built once (a case is read by id on every step and every licence coming back), its id bound per call.
_GET = select(Case).where(Case.id == bindparam("case_id"))
_GET_LOCKED = _GET.with_for_update()


async def by_number(session: AsyncSession, case_number: str) -> Case | None:
    return (await session.execute(select(Case).where(Case.case_number == case_number))).scalar_one_or_none()


async def by_partner_case(session: AsyncSession, region: str, number: str) -> Case | None:
    stmt = select(Case).where(Case.partner_region == region, Case.partner_case_number == number)
    return (await session.execute(stmt)).scalar_one_or_none()


def visible_to(p: Principal, permission: str = "case.read"):
    """The cases the policy lets the caller reach (tongban.cases.policy), as one WHERE: the OR of
    its clauses (own cases, a principal's for delegated items, a hall's and departments')."""
    try:
        clauses = admit(POLICY, permission, p).reach()
    except AppError:
        return false()
    return or_(*(_clause(c) for c in clauses)) if clauses else false()


def _clause(c: Clause):
    parts = []
    if c.owner is not None:
        parts.append(Case.applicant_id == c.owner)
    if c.items is not None:
        parts.append(Case.basic_code.in_(sorted(c.items)))
    if c.halls is not None:  # a case taken online has no hall: a clerk reaches it by department
        parts.append(or_(Case.hall.is_(None), Case.hall.in_(sorted(c.halls))))
    if c.departments is not None:
        parts.append(Case.department.in_(sorted(c.departments)))
    if c.channel is not None:
        parts.append(Case.channel == c.channel)
    return and_(*parts) if parts else true()


def list_query(p: Principal, state: str | None, basic_code: str | None) -> Select[tuple[Case]]:
    stmt = select(Case).where(visible_to(p))
    if state:
        stmt = stmt.where(Case.state == state)
    if basic_code:
        stmt = stmt.where(Case.basic_code == basic_code)
    return stmt.order_by(Case.created_at.desc(), Case.id)


def worklist_query(p: Principal, states: frozenset[str]) -> Select[tuple[Case]]:
    """Cases waiting for staff, the least remaining time first (the deadline order is the same
    as the order of remaining working days); paused clocks last."""
    return (select(Case).where(visible_to(p, "case.worklist"), Case.state.in_(states))
            .order_by(Case.paused_since.is_not(None), Case.deadline_on.asc().nulls_last(), Case.id))


def timeline_query(case_id: uuid.UUID) -> Select[tuple[CaseTimelineEntry]]:
    return select(CaseTimelineEntry).where(CaseTimelineEntry.case_id == case_id).order_by(CaseTimelineEntry.id)


async def timeline(session: AsyncSession, case_id: uuid.UUID) -> list[CaseTimelineEntry]:
    return list((await session.execute(timeline_query(case_id))).scalars())


async def clocks_to_check(session: AsyncSession, limit: int = 500) -> list[Case]:
    """Running clocks without a red flag yet, locked (other checkers skip them)."""
    stmt = (select(Case).where(Case.state.in_(RUNNING), Case.paused_since.is_(None), Case.deadline_on.is_not(None),
                               Case.overdue_at.is_(None))
            .order_by(Case.deadline_on).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())


async def gaps_overdue(session: AsyncSession, today: dt.date, limit: int = 500) -> list[Case]:
    """Cases accepted with gaps whose materials did not come by the due date."""
    stmt = (select(Case).where(Case.state.in_(("accepted", "in_review")), Case.gaps_due_on < today)
            .order_by(Case.gaps_due_on).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())


async def gaps_due_soon(session: AsyncSession, today: dt.date, horizon: dt.date, limit: int = 500) -> list[Case]:
    """Cases with missing materials due from today to `horizon`, not reminded yet (locked)."""
    stmt = (select(Case).where(Case.state.in_(("accepted", "in_review")), Case.gaps_due_on >= today,
                               Case.gaps_due_on <= horizon, Case.gaps_reminded_at.is_(None))
            .order_by(Case.gaps_due_on).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())


# States in which a case's clock runs or is paused: their deadlines move with the calendar.
CLOCKED_STATES = ("submitted", "accepted", "in_review", "supplement_requested", "suspended")


async def deadlines_to_recompute(session: AsyncSession, since: dt.date, after: uuid.UUID | None,
                                 size: int) -> list[Case]:
    """Open cases whose deadline is provisional or lies on or after `since`, by id after `after`,
    locked (a step on one of them waits for the batch)."""
    stmt = (select(Case).where(or_(Case.deadline_basis.is_not(None), Case.deadline_on >= since),
                               Case.state.in_(CLOCKED_STATES))
            .order_by(Case.id).limit(size).with_for_update())
    if after is not None:
        stmt = stmt.where(Case.id > after)
    return list((await session.execute(stmt)).scalars())
