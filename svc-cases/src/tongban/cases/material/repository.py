import uuid

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from tongban.cases.material.models import CaseMaterial, Document


async def add(session: AsyncSession, row: Document | CaseMaterial) -> None:
    session.add(row)
    await session.flush()


async def get_document(session: AsyncSession, document_id: uuid.UUID, with_content: bool = False,
                       for_update: bool = False) -> Document | None:
    stmt = select(Document).where(Document.id == document_id)
    if with_content:
        stmt = stmt.options(undefer(Document.content))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def documents(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Document]:
    """The documents by id, locked (two submissions cannot attach one document twice)."""
    if not ids:
        return {}
    stmt = select(Document).where(Document.id.in_(ids)).with_for_update()
    return {d.id: d for d in (await session.execute(stmt)).scalars()}


async def attach(session: AsyncSession, ids: list[uuid.UUID], case_id: uuid.UUID) -> None:
    if ids:
        await session.execute(update(Document).where(Document.id.in_(ids)).values(case_id=case_id))


def materials_query(case_id: uuid.UUID) -> Select[tuple[CaseMaterial]]:
    return select(CaseMaterial).where(CaseMaterial.case_id == case_id).order_by(CaseMaterial.id)
