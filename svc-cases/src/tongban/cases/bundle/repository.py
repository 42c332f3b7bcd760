import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.bundle.models import BundleCase, CatalogBundle
from tongban.cases.case.models import Case


async def bundle_by_code(session: AsyncSession, code: str) -> CatalogBundle | None:
    return (await session.execute(select(CatalogBundle).where(CatalogBundle.code == code)
                                  .order_by(CatalogBundle.version.desc()).limit(1))).scalar_one_or_none()


async def get_copy(session: AsyncSession, bundle_id: uuid.UUID) -> CatalogBundle | None:
    return (await session.execute(select(CatalogBundle).where(CatalogBundle.bundle_id == bundle_id)
                                  .with_for_update())).scalar_one_or_none()


async def add(session: AsyncSession, row: BundleCase | CatalogBundle) -> None:
    session.add(row)
    await session.flush()


async def get(session: AsyncSession, bundle_case_id: uuid.UUID, for_update: bool = False) -> BundleCase | None:
    stmt = select(BundleCase).where(BundleCase.id == bundle_case_id)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar_one_or_none()


async def children(session: AsyncSession, bundle_case_id: uuid.UUID) -> list[Case]:
    return list((await session.execute(select(Case).where(Case.bundle_case_id == bundle_case_id)
                                       .order_by(Case.case_number))).scalars())


def list_query(applicant_ids: list[str], everyone: bool) -> Select[tuple[BundleCase]]:
    stmt = select(BundleCase)
    if not everyone:
        stmt = stmt.where(BundleCase.applicant_id.in_(applicant_ids))
    return stmt.order_by(BundleCase.created_at.desc(), BundleCase.id)
