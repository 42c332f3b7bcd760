import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.referral.models import Referral


async def add(session: AsyncSession, row: Referral) -> None:
    session.add(row)
    await session.flush()


async def get(session: AsyncSession, referral_id: uuid.UUID, for_update: bool = False) -> Referral | None:
    stmt = select(Referral).where(Referral.id == referral_id)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar_one_or_none()


async def find_inbound(session: AsyncSession, partner: str, kind: str, partner_ref: str) -> Referral | None:
    return (await session.execute(select(Referral).where(
        Referral.partner == partner, Referral.direction == "inbound", Referral.kind == kind,
        Referral.partner_ref == partner_ref))).scalar_one_or_none()


def list_query(direction: str | None, partner: str | None) -> Select[tuple[Referral]]:
    stmt = select(Referral).order_by(Referral.created_at.desc(), Referral.id)
    if direction:
        stmt = stmt.where(Referral.direction == direction)
    if partner:
        stmt = stmt.where(Referral.partner == partner)
    return stmt
