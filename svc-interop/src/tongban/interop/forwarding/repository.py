import uuid

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.interop.forwarding.models import IncomingCase, OutgoingCase
from tongban.shared import clock


async def next_reference(session: AsyncSession, region: str, kind: str) -> str:
    """A reference number: region, kind letter, date, and a number from one sequence."""
    n = (await session.execute(text("SELECT nextval('interop.reference_number_seq')"))).scalar_one()
    return f"{region}{kind}{clock.now():%Y%m%d}{n:07d}"


async def add(session: AsyncSession, row: OutgoingCase | IncomingCase) -> None:
    session.add(row)
    await session.flush()


async def get_outgoing(session: AsyncSession, case_id: uuid.UUID, for_update: bool = False) -> OutgoingCase | None:
    stmt = select(OutgoingCase).where(OutgoingCase.id == case_id)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar_one_or_none()


async def get_incoming(session: AsyncSession, case_id: uuid.UUID, for_update: bool = False) -> IncomingCase | None:
    stmt = select(IncomingCase).where(IncomingCase.id == case_id)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar_one_or_none()


async def get_by_local_case(session: AsyncSession, local_case_id: uuid.UUID, for_update: bool = False
                            ) -> IncomingCase | None:
    stmt = select(IncomingCase).where(IncomingCase.local_case_id == local_case_id)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar_one_or_none()


async def get_by_outgoing_local_case(session: AsyncSession, local_case_id: uuid.UUID) -> OutgoingCase | None:
    return (await session.execute(select(OutgoingCase).where(OutgoingCase.local_case_id == local_case_id))
            ).scalar_one_or_none()


async def find_incoming(session: AsyncSession, partner: str, partner_case_ref: str) -> IncomingCase | None:
    return (await session.execute(select(IncomingCase).where(
        IncomingCase.partner == partner, IncomingCase.partner_case_ref == partner_case_ref))).scalar_one_or_none()


def outgoing_query(partner: str | None, kind: str | None = None) -> Select[tuple[OutgoingCase]]:
    stmt = select(OutgoingCase).order_by(OutgoingCase.created_at.desc(), OutgoingCase.id)
    stmt = stmt.where(OutgoingCase.partner == partner) if partner else stmt
    return stmt.where(OutgoingCase.kind == kind) if kind else stmt


def incoming_query(partner: str | None, kind: str | None = None) -> Select[tuple[IncomingCase]]:
    stmt = select(IncomingCase).order_by(IncomingCase.created_at.desc(), IncomingCase.id)
    stmt = stmt.where(IncomingCase.partner == partner) if partner else stmt
    return stmt.where(IncomingCase.kind == kind) if kind else stmt
