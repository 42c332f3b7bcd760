import uuid

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer
from tongban.cases.document.models import CaseDocument


async def add(session: AsyncSession, row: CaseDocument) -> None:
    session.add(row)
    await session.flush()


async def get(session: AsyncSession, case_id: uuid.UUID, document_id: uuid.UUID, with_pdf: bool = False,
              for_update: bool = False) -> CaseDocument | None:
    stmt = select(CaseDocument).where(CaseDocument.id == document_id, CaseDocument.case_id == case_id)
    if with_pdf:
        stmt = stmt.options(undefer(CaseDocument.pdf))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def of_case(case_id: uuid.UUID) -> Select[tuple[CaseDocument]]:
    return select(CaseDocument).where(CaseDocument.case_id == case_id).order_by(CaseDocument.created_at,
                                                                                 CaseDocument.id)


async def count_of_kind(session: AsyncSession, case_id: uuid.UUID, kind: str) -> int:
    stmt = select(CaseDocument.id).where(CaseDocument.case_id == case_id, CaseDocument.kind == kind)
    return len((await session.execute(stmt)).all())


async def mark(session: AsyncSession, document_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(CaseDocument).where(CaseDocument.id == document_id).values(**values))
