import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.bundle.models import Bundle


async def get(session: AsyncSession, bundle_id: uuid.UUID) -> Bundle | None:
    return await session.get(Bundle, bundle_id)


async def get_for_update(session: AsyncSession, bundle_id: uuid.UUID) -> Bundle | None:
    """Locked until the transaction ends; re-read even if the session holds it (its version counts)."""
    return (await session.execute(select(Bundle).where(Bundle.id == bundle_id).with_for_update()
                                  .execution_options(populate_existing=True))).scalar_one_or_none()


async def flush(session: AsyncSession, bundle: Bundle) -> Bundle:
    await session.flush()
    await session.refresh(bundle)
    return bundle


async def get_by_code(session: AsyncSession, code: str) -> Bundle | None:
    return (await session.execute(select(Bundle).where(Bundle.code == code))).scalar_one_or_none()


def list_query(city_code: str | None = None) -> Select[tuple[Bundle]]:
    stmt = select(Bundle).where(Bundle.status == "published").order_by(Bundle.code, Bundle.id)
    if city_code:
        stmt = stmt.where((Bundle.city_code == city_code) | Bundle.city_code.is_(None))
    return stmt


async def add(session: AsyncSession, bundle: Bundle) -> Bundle:
    session.add(bundle)
    await session.flush()
    await session.refresh(bundle)
    return bundle
