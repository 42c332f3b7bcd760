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
    """Mark the documents attached (to the first case that took them: a bundle's siblings share them)."""
    if ids:
        await session.execute(update(Document).where(Document.id.in_(ids), Document.case_id.is_(None))
                              .values(case_id=case_id).execution_options(synchronize_session="fetch"))


async def cases_listing(session: AsyncSession, document_id: uuid.UUID) -> list[uuid.UUID]:
    """The cases that list the document as a material."""
    rows = await session.execute(select(CaseMaterial.case_id).where(CaseMaterial.document_id == document_id)
                                 .distinct())
    return list(rows.scalars())


def materials_query(case_id: uuid.UUID) -> Select[tuple[CaseMaterial]]:
    return select(CaseMaterial).where(CaseMaterial.case_id == case_id).order_by(CaseMaterial.id)


async def given(session: AsyncSession, case_id: uuid.UUID) -> list[tuple[str, str | None]]:
    """(name, licence type code) of each material the case has."""
    rows = await session.execute(select(CaseMaterial.name, CaseMaterial.licence_type_code)
                                 .where(CaseMaterial.case_id == case_id))
    return [(name, code) for name, code in rows]
