"""Every query of credit records, list entries and commitment checks; never commits."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Select, and_, false, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.credit.models import CommitmentCheck, CreditListEntry, CreditRecord
from tongban.shared.policy import Clause


async def record(session: AsyncSession, subject_id: str) -> CreditRecord | None:
    return await session.get(CreditRecord, subject_id)


async def entries(session: AsyncSession, subject_id: str, limit: int = 50) -> list[CreditListEntry]:
    return list((await session.execute(select(CreditListEntry).where(CreditListEntry.subject_id == subject_id)
                                       .order_by(CreditListEntry.listed_on.desc(), CreditListEntry.id)
                                       .limit(limit))).scalars())


async def live_lists(session: AsyncSession, subject_id: str, today: dt.date) -> set[str]:
    """Which lists (red, black) the subject is on today."""
    return set((await session.execute(select(CreditListEntry.list).where(
        CreditListEntry.subject_id == subject_id, CreditListEntry.listed_on <= today,
        or_(CreditListEntry.until.is_(None), CreditListEntry.until >= today)))).scalars())


async def add(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.flush()


async def check(session: AsyncSession, check_id: uuid.UUID, for_update: bool = False) -> CommitmentCheck | None:
    stmt = select(CommitmentCheck).where(CommitmentCheck.id == check_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def check_of_case(session: AsyncSession, case_id: uuid.UUID) -> CommitmentCheck | None:
    return (await session.execute(select(CommitmentCheck).where(CommitmentCheck.case_id == case_id))).scalar_one_or_none()


def checks_query(reach: tuple[Clause, ...], state: str | None) -> Select[tuple[CommitmentCheck]]:
    ors = [and_(CommitmentCheck.department.in_(c.departments)) if c.departments is not None else true()
           for c in reach]
    stmt = select(CommitmentCheck).where(or_(*ors) if ors else false())
    if state is not None:
        stmt = stmt.where(CommitmentCheck.state == state)
    return stmt.order_by(CommitmentCheck.due_on, CommitmentCheck.id)


async def mark_due(session: AsyncSession, today: dt.date) -> list[uuid.UUID]:
    """Pending checks whose day has come become due (once: the update is conditional)."""
    stmt = (update(CommitmentCheck).where(CommitmentCheck.state == "pending", CommitmentCheck.due_on <= today)
            .values(state="due").returning(CommitmentCheck.id))
    return list((await session.execute(stmt)).scalars())
