"""Every query of benefit policies, subjects' facts and grants; never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, false, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.benefit.models import (
    BenefitGrant, BenefitLicence, BenefitPolicy, BenefitPolicyGeneration, BenefitSubject,
)
from tongban.cases.case.models import Case
from tongban.shared.policy import Clause

BATCH = 5000


async def get_policy(session: AsyncSession, policy_id: uuid.UUID, for_update: bool = False) -> BenefitPolicy | None:
    stmt = select(BenefitPolicy).where(BenefitPolicy.id == policy_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, row: Any) -> None:
    session.add(row)
    await session.flush()


def policies_query() -> Select[tuple[BenefitPolicy]]:
    return select(BenefitPolicy).order_by(BenefitPolicy.created_at.desc(), BenefitPolicy.id)


async def open_policies(session: AsyncSession, subject_type: str, today: dt.date,
                        mode: str | None = None) -> list[BenefitPolicy]:
    """Published policies for this kind of subject whose period includes `today`."""
    stmt = select(BenefitPolicy).where(BenefitPolicy.state == "published", BenefitPolicy.subject_type == subject_type,
                                       BenefitPolicy.starts_on <= today, BenefitPolicy.ends_on >= today)
    if mode is not None:
        stmt = stmt.where(BenefitPolicy.mode == mode)
    return list((await session.execute(stmt.order_by(BenefitPolicy.created_at, BenefitPolicy.id))).scalars())


# Built once: a request binds the subject and reuses the statement's compiled form.
_MATCH_INPUTS = select(
    select(BenefitPolicyGeneration.n).where(BenefitPolicyGeneration.id == 1).scalar_subquery(),
    select(BenefitSubject.facts).where(BenefitSubject.subject_id == bindparam("subject_id")).scalar_subquery(),
    select(func.array_agg(BenefitGrant.policy_id)).where(BenefitGrant.subject_id == bindparam("subject_id"))
    .scalar_subquery())


async def match_inputs(session: AsyncSession, subject_id: str) -> tuple[int | None, dict[str, Any] | None, set[uuid.UUID]]:
    """What "what do I qualify for" reads, in one statement (one snapshot): the published
    policies' generation, the subject's facts (None if unknown) and the policies granted to it."""
    conn = await session.connection()   # a Core statement: no ORM work around it
    generation, facts, granted = (await conn.execute(_MATCH_INPUTS, {"subject_id": subject_id})).one()
    return generation, facts, set(granted or ())


async def published(session: AsyncSession) -> list[BenefitPolicy]:
    return list((await session.execute(select(BenefitPolicy).where(BenefitPolicy.state == "published")
                                       .order_by(BenefitPolicy.created_at, BenefitPolicy.id))).scalars())


async def take_budget(session: AsyncSession, policy_id: uuid.UUID, amount: int) -> bool:
    """Take `amount` from the budget if it still covers it and the policy is still published: one
    conditional update, so concurrent grants queue on the row (behind an amendment or a closing
    too) and none can pass the total or land after the policy closed."""
    stmt = (update(BenefitPolicy).where(BenefitPolicy.id == policy_id, BenefitPolicy.state == "published",
                                        BenefitPolicy.budget_used + amount <= BenefitPolicy.budget_total)
            .values(budget_used=BenefitPolicy.budget_used + amount).returning(BenefitPolicy.budget_used))
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def state_now(session: AsyncSession, policy_id: uuid.UUID) -> str | None:
    """The policy's state as committed now (not the copy this session holds)."""
    return (await session.execute(select(BenefitPolicy.state).where(BenefitPolicy.id == policy_id)
                                  .execution_options(populate_existing=True))).scalar_one_or_none()


async def give_back(session: AsyncSession, policy_id: uuid.UUID, amount: int) -> None:
    await session.execute(update(BenefitPolicy).where(BenefitPolicy.id == policy_id)
                          .values(budget_used=BenefitPolicy.budget_used - amount))


async def insert_grant(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the subject already has this policy (a concurrent grant won)."""
    stmt = (insert(BenefitGrant).values(**values).on_conflict_do_nothing(
        index_elements=[BenefitGrant.policy_id, BenefitGrant.subject_id]).returning(BenefitGrant.id))
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def insert_grants(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Grants of one publish (the policy locked: none of these subjects can have it already)."""
    await session.execute(insert(BenefitGrant), rows)


async def grants_without_account(session: AsyncSession, granted_before: dt.datetime,
                                 limit: int = 500) -> list[tuple[BenefitGrant, str, str]]:
    """Grants still without a bank account, granted before then and never reminded (locked; a
    replica's concurrent sweep skips them), with their policy's name and their case's number."""
    stmt = (select(BenefitGrant, BenefitPolicy.name, Case.case_number)
            .join(BenefitPolicy, BenefitPolicy.id == BenefitGrant.policy_id)
            .join(Case, Case.id == BenefitGrant.case_id)
            .where(BenefitGrant.bank_account.is_(None), BenefitGrant.account_reminded_at.is_(None),
                   BenefitGrant.created_at <= granted_before)
            .order_by(BenefitGrant.created_at).limit(limit).with_for_update(of=BenefitGrant, skip_locked=True))
    return [(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]


async def grant_by_id(session: AsyncSession, grant_id: uuid.UUID) -> BenefitGrant | None:
    return (await session.execute(select(BenefitGrant).where(BenefitGrant.id == grant_id)
                                  .with_for_update())).scalar_one_or_none()


async def get_grant(session: AsyncSession, policy_id: uuid.UUID, subject_id: str) -> BenefitGrant | None:
    return (await session.execute(select(BenefitGrant).where(
        BenefitGrant.policy_id == policy_id, BenefitGrant.subject_id == subject_id))).scalar_one_or_none()


async def granted_policies(session: AsyncSession, subject_id: str) -> set[uuid.UUID]:
    return set((await session.execute(select(BenefitGrant.policy_id)
                                      .where(BenefitGrant.subject_id == subject_id))).scalars())


async def granted_subjects(session: AsyncSession, policy_id: uuid.UUID) -> set[str]:
    return set((await session.execute(select(BenefitGrant.subject_id)
                                      .where(BenefitGrant.policy_id == policy_id))).scalars())


def grants_query(reach: tuple[Clause, ...], policy_id: uuid.UUID | None) -> Select[tuple[BenefitGrant]]:
    """The grants a caller may list: OR of its clauses (owner, delegated items, departments)."""
    ors = []
    for c in reach:
        conds = []
        if c.owner is not None:
            conds.append(BenefitGrant.subject_id == c.owner)
        if c.items is not None:
            conds.append(BenefitGrant.basic_code.in_(c.items))
        if c.departments is not None:
            conds.append(BenefitGrant.department.in_(c.departments))
        ors.append(and_(*conds) if conds else true())
    stmt = select(BenefitGrant).where(or_(*ors) if ors else false())
    if policy_id is not None:
        stmt = stmt.where(BenefitGrant.policy_id == policy_id)
    return stmt.order_by(BenefitGrant.created_at.desc(), BenefitGrant.id)


async def subject(session: AsyncSession, subject_id: str, for_update: bool = False) -> BenefitSubject | None:
    stmt = _SUBJECT_LOCKED if for_update else _SUBJECT
    return (await session.execute(stmt, {"subject_id": subject_id})).scalar_one_or_none()


# Built once (read on every licence and every settled case heard), the id bound per call.
_SUBJECT = select(BenefitSubject).where(BenefitSubject.subject_id == bindparam("subject_id"))
_SUBJECT_LOCKED = _SUBJECT.with_for_update()


async def subject_for_update(session: AsyncSession, subject_id: str, subject_type: str) -> BenefitSubject:
    """The subject's row, made if new, locked (concurrent changes of one subject's facts queue):
    one statement for a subject heard of before, three the first time."""
    found = await subject(session, subject_id, for_update=True)
    if found is not None:
        return found
    await session.execute(insert(BenefitSubject).values(subject_id=subject_id, subject_type=subject_type, facts={},
                                                        sources={}).on_conflict_do_nothing())
    found = await subject(session, subject_id, for_update=True)
    assert found is not None
    return found


async def stream_subjects(session: AsyncSession, subject_type: str) -> AsyncIterator[list[tuple[str, str | None, dict[str, Any]]]]:
    """Every subject of this kind, in batches by id (keyset: no long cursor, no OFFSET)."""
    after = ""
    while True:
        rows = (await session.execute(
            select(BenefitSubject.subject_id, BenefitSubject.name, BenefitSubject.facts)
            .where(BenefitSubject.subject_type == subject_type, BenefitSubject.subject_id > after)
            .order_by(BenefitSubject.subject_id).limit(BATCH))).all()
        if not rows:
            return
        yield [(r[0], r[1], r[2]) for r in rows]
        after = rows[-1][0]


_CASE = Case.__table__
_OTHER = _CASE.alias("other")
# Built once (Core, bound values): a settled case's applicant and item, and whether the applicant
# has a completed case of that item (this one or another), in one round trip.
_SETTLED_CASE = select(
    _CASE.c.applicant_id, _CASE.c.applicant_type, _CASE.c.basic_code,
    exists().where(_OTHER.c.applicant_id == _CASE.c.applicant_id, _OTHER.c.basic_code == _CASE.c.basic_code,
                   _OTHER.c.state == "completed").label("held"),
).where(_CASE.c.id == bindparam("case_id"))


async def settled_case(session: AsyncSession, case_id: uuid.UUID) -> Any:
    """The case's `applicant_id`, `applicant_type`, `basic_code` and `held`: whether the subject
    has a completed case of this item (a revoked one no longer counts); None for a case unknown here."""
    return (await session.execute(_SETTLED_CASE, {"case_id": case_id})).first()


async def put_licence(session: AsyncSession, licence_id: uuid.UUID, holder_id: str, type_code: str,
                      status: str) -> None:
    await session.execute(_PUT_LICENCE, {"licence_id": licence_id, "holder_id": holder_id, "type_code": type_code,
                                         "status": status})


def _put_licence_statement():  # noqa: ANN202 - a Core INSERT ... ON CONFLICT
    t = BenefitLicence.__table__
    stmt = insert(t).values({c: bindparam(c.key, type_=c.type) for c in (t.c.licence_id, t.c.holder_id, t.c.type_code,
                                                                        t.c.status)})
    return stmt.on_conflict_do_update(index_elements=[t.c.licence_id], set_={"status": stmt.excluded.status})


# Built once (every licence issued comes through it), its values bound per call.
_PUT_LICENCE = _put_licence_statement()


async def licence(session: AsyncSession, licence_id: uuid.UUID) -> BenefitLicence | None:
    return await session.get(BenefitLicence, licence_id)


async def holds_valid(session: AsyncSession, holder_id: str, type_code: str) -> bool:
    """Whether the holder still has a valid licence of this type (one index probe, however many
    licences the holder has)."""
    return bool((await session.execute(select(exists().where(
        BenefitLicence.holder_id == holder_id, BenefitLicence.type_code == type_code,
        BenefitLicence.status == "valid")))).scalar())
