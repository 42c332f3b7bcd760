import uuid

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.seal.models import RegistrationItem, Seal, SealDelegation, SealUse


async def add(session: AsyncSession, row: Seal | SealDelegation | SealUse | RegistrationItem) -> None:
    session.add(row)
    await session.flush()


async def get(session: AsyncSession, seal_id: uuid.UUID, lock: bool = False) -> Seal | None:
    stmt = select(Seal).where(Seal.id == seal_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_kid(session: AsyncSession, kid: str) -> Seal | None:
    return (await session.execute(select(Seal).where(Seal.kid == kid))).scalar_one_or_none()


async def active_kinds(session: AsyncSession, company_code: str) -> set[str]:
    return set((await session.execute(select(Seal.kind).where(Seal.company_code == company_code,
                                                              Seal.status == "active"))).scalars())


async def any_for_case(session: AsyncSession, case_id: uuid.UUID) -> bool:
    return (await session.execute(select(Seal.id).where(Seal.source_case_id == case_id).limit(1))).first() is not None


def seals_query(company_code: str | None) -> Select[tuple[Seal]]:
    stmt = select(Seal)
    if company_code is not None:
        stmt = stmt.where(Seal.company_code == company_code)
    return stmt.order_by(Seal.company_code, Seal.created_at.desc(), Seal.id)


async def get_delegation(session: AsyncSession, seal_id: uuid.UUID, delegation_id: uuid.UUID,
                         lock: bool = False) -> SealDelegation | None:
    stmt = select(SealDelegation).where(SealDelegation.id == delegation_id, SealDelegation.seal_id == seal_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def delegations_of(session: AsyncSession, seal_id: uuid.UUID, grantee_sub: str) -> list[SealDelegation]:
    """Every delegation of this seal to this person, newest first."""
    return list((await session.execute(select(SealDelegation).where(
        SealDelegation.seal_id == seal_id, SealDelegation.grantee_sub == grantee_sub)
        .order_by(SealDelegation.expires_at.desc()))).scalars())


def delegations_query(seal_id: uuid.UUID) -> Select[tuple[SealDelegation]]:
    return select(SealDelegation).where(SealDelegation.seal_id == seal_id).order_by(
        SealDelegation.created_at.desc(), SealDelegation.id)


async def get_use(session: AsyncSession, use_id: int) -> SealUse | None:
    return await session.get(SealUse, use_id)


def uses_query(company_code: str | None, seal_id: uuid.UUID | None, actor: str | None) -> Select[tuple[SealUse]]:
    """The seal use log, newest first (served by ix_seal_use_company / ix_seal_use_seal)."""
    stmt = select(SealUse)
    if company_code is not None:
        stmt = stmt.where(SealUse.company_code == company_code)
    if seal_id is not None:
        stmt = stmt.where(SealUse.seal_id == seal_id)
    if actor is not None:
        stmt = stmt.where(SealUse.actor == actor)
    return stmt.order_by(SealUse.at.desc(), SealUse.id.desc())


async def all_seal_keys(session: AsyncSession) -> list[Seal]:
    return list((await session.execute(select(Seal).order_by(Seal.company_code, Seal.created_at))).scalars())


async def is_registration_item(session: AsyncSession, basic_code: str) -> bool:
    return await session.get(RegistrationItem, basic_code) is not None


async def get_registration_item(session: AsyncSession, basic_code: str) -> RegistrationItem | None:
    return await session.get(RegistrationItem, basic_code)


async def delete_registration_item(session: AsyncSession, basic_code: str) -> bool:
    done = await session.execute(delete(RegistrationItem).where(RegistrationItem.basic_code == basic_code)
                                 .returning(RegistrationItem.basic_code))
    return done.first() is not None


def registration_items_query() -> Select[tuple[RegistrationItem]]:
    return select(RegistrationItem).order_by(RegistrationItem.basic_code)

