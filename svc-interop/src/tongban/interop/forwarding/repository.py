import uuid
from typing import Any

from sqlalchemy import Row, Select, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
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


_INSERT_INCOMING = pg_insert(IncomingCase.__table__).on_conflict_do_nothing().returning(IncomingCase.id)


async def insert_incoming(session: AsyncSession, case: IncomingCase) -> bool:
    """The partner's case, with one Core INSERT on the session's connection (the same transaction),
    not through the ORM's unit of work: on the exchange's path, and nothing changes the row
    afterwards in this transaction (the object stays outside the session; its columns the database
    defaults, `updated_at`, are not read from it). Unset attributes take the column defaults.
    False (nothing written) when a record of the same partner case, or of the same svc-cases
    case, is there already (committed by a concurrent message: the insert waits for it)."""
    values = {c.name: value for c in IncomingCase.__table__.columns if (value := getattr(case, c.key)) is not None}
    return (await session.execute(_INSERT_INCOMING, values)).first() is not None


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


# Built once, the values bound apart; only what an answer to a resent case needs (no ORM entity).
_FOUND = (select(IncomingCase.case_number, IncomingCase.status, IncomingCase.created_at)
          .where(IncomingCase.partner == bindparam("partner"), IncomingCase.partner_case_ref == bindparam("ref")))


async def find_incoming(session: AsyncSession, partner: str, partner_case_ref: str) -> Row[Any] | None:
    """(case_number, status, created_at) of the partner's case with this reference, if we hold it."""
    return (await session.execute(_FOUND, {"partner": partner, "ref": partner_case_ref})).first()


def outgoing_query(partner: str | None, kind: str | None = None) -> Select[tuple[OutgoingCase]]:
    stmt = select(OutgoingCase).order_by(OutgoingCase.created_at.desc(), OutgoingCase.id)
    stmt = stmt.where(OutgoingCase.partner == partner) if partner else stmt
    return stmt.where(OutgoingCase.kind == kind) if kind else stmt


def incoming_query(partner: str | None, kind: str | None = None) -> Select[tuple[IncomingCase]]:
    stmt = select(IncomingCase).order_by(IncomingCase.created_at.desc(), IncomingCase.id)
    stmt = stmt.where(IncomingCase.partner == partner) if partner else stmt
    return stmt.where(IncomingCase.kind == kind) if kind else stmt
