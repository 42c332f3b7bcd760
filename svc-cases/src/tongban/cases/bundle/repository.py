import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.bundle.models import BundleCase, CatalogBundle
from tongban.cases.case.models import Case
from tongban.cases.case.repository import visible_to
from tongban.shared.auth import Principal


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


def list_query(p: Principal) -> Select[tuple[BundleCase]]:
    """The bundle cases with a child the caller may reach under `bundle.read` (tongban.cases.policy)."""
    child = select(Case.id).where(Case.bundle_case_id == BundleCase.id, visible_to(p, "bundle.read"))
    return select(BundleCase).where(child.exists()).order_by(BundleCase.created_at.desc(), BundleCase.id)
