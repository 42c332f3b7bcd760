import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, case, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.case.models import Case
from tongban.cases.rating.models import Rating, Remedy
from tongban.shared.policy import Clause


async def for_case(session: AsyncSession, case_id: uuid.UUID) -> Rating | None:
    return (await session.execute(select(Rating).where(Rating.case_id == case_id))).scalar_one_or_none()


async def add(session: AsyncSession, row: Rating | Remedy) -> None:
    session.add(row)
    await session.flush()


async def get_remedy(session: AsyncSession, remedy_id: uuid.UUID) -> Remedy | None:
    return (await session.execute(select(Remedy).where(Remedy.id == remedy_id).with_for_update())
            ).scalar_one_or_none()


def _scope(model: type[Rating] | type[Remedy], reach: tuple[Clause, ...]):  # noqa: ANN202 - a SQL expression
    """What the policy lets the caller reach (Access.reach): ratings and remedies by department."""
    parts = [model.department.in_(sorted(c.departments)) if c.departments is not None else true() for c in reach]
    return or_(*parts) if parts else false()


def list_query(reach: tuple[Clause, ...]) -> Select[tuple[Rating]]:
    return select(Rating).where(_scope(Rating, reach)).order_by(Rating.created_at.desc(), Rating.id)


def remedies_query(reach: tuple[Clause, ...], state: str | None) -> Select[tuple[Remedy]]:
    stmt = select(Remedy).where(_scope(Remedy, reach))
    if state:
        stmt = stmt.where(Remedy.state == state)
    return stmt.order_by(Remedy.due_on, Remedy.id)


def statistics_query(reach: tuple[Clause, ...], group_by: str) -> Select[Any]:
    """Ratings, positive ones (4-5) and the positive rate per item, department or counter."""
    key = {"item": Rating.basic_code, "department": Rating.department, "counter": Rating.counter}[group_by]
    positive = func.count().filter(Rating.level >= 4)
    return (select(key.label("key"), func.count().label("ratings"), positive.label("positive"),
                   case((func.count() > 0, positive * 1.0 / func.count()), else_=0.0).label("positive_rate"))
            .where(_scope(Rating, reach)).group_by(key).order_by(key.asc().nulls_last()))


async def unrated_completed(session: AsyncSession, before: dt.datetime, limit: int = 500) -> list[Case]:
    """Completed cases with no rating, completed before `before`, locked for this checker pass."""
    stmt = (select(Case).where(Case.state == "completed", Case.completed_at < before,
                               ~select(Rating.id).where(Rating.case_id == Case.id).exists())
            .order_by(Case.completed_at).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())
