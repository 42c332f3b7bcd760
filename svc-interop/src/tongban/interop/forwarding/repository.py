import uuid
from typing import Any

from sqlalchemy import Row, Select, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from asyncpg.exceptions import UniqueViolationError
from sqlalchemy.exc import IntegrityError
from tongban.interop.forwarding.models import IncomingCase, OutgoingCase
from tongban.shared import clock
from tongban.shared.db import BatchedInsert


async def next_reference(session: AsyncSession, region: str, kind: str) -> str:
    """A reference number: region, kind letter, date, and a number from one sequence."""
    n = (await session.execute(text("SELECT nextval('interop.reference_number_seq')"))).scalar_one()
    return f"{region}{kind}{clock.now():%Y%m%d}{n:07d}"


async def add(session: AsyncSession, row: OutgoingCase | IncomingCase) -> None:
    session.add(row)
    await session.flush()


_NEW_INCOMING = BatchedInsert(IncomingCase.__table__, "interop_incoming_case_batch")
# Every column but `updated_at` (the database's default, now()): the batched statement's shape.
_NEW_INCOMING_COLUMNS = tuple(c for c in IncomingCase.__table__.columns if c.name != "updated_at")


async def add_incoming(session: AsyncSession, case: IncomingCase) -> None:
    """The partner's case, kept for the transaction's batched statement (with its audit row and
    event: one statement, sent before the transaction's next statement or its COMMIT), not through
    the ORM's unit of work; nothing changes the row afterwards in this transaction. A record of the
    same partner case, or of the same svc-cases case, there already (or committed meanwhile by a
    concurrent message: the statement waits for it) fails that statement: `recorded_before`."""
    await _NEW_INCOMING.insert(session, {c.key: getattr(case, c.key) for c in _NEW_INCOMING_COLUMNS})


def recorded_before(exc: IntegrityError) -> bool:
    """The write failed on one of incoming_case's unique keys (partner case ref, case number,
    svc-cases' case)."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(cause, UniqueViolationError) and cause.table_name == IncomingCase.__tablename__


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
