"""Cases forwarded by a partner city (异地受理, 深中通办): the partner's applicant is named in the
body (the caller is svc-interop's service token, not the applicant), the case is submitted in
this city with channel `partner` and keeps the partner's region and case number, which every
later `cases.case.*` event carries so svc-interop can report each step back."""

from __future__ import annotations

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.case.models import Case
from tongban.cases.case import submission
from tongban.cases.case.schemas import CaseCreate, CaseRead
from tongban.cases.forwarding.schemas import ForwardedCaseCreate
from tongban.shared.auth import Principal
from tongban.shared.errors import Conflict, InvalidField
from tongban.shared.ids import InvalidIdentifier, normalize_credit_code, normalize_resident_id


# Built once, the values bound apart (SQLAlchemy keeps its cache key and compiled form): what a
# refusal of a second delivery names (not the whole case).
UNIQUE_PARTNER_CASE = "uq_case_partner_case"
_FORWARDED = select(Case.id, Case.case_number).where(Case.partner_region == bindparam("region"),
                                                     Case.partner_case_number == bindparam("number"))


class AlreadyForwarded(Conflict):
    """The partner case was forwarded before under another message id; the problem names our case."""

    code, title = "case_already_forwarded", "This partner case was already forwarded"


def applicant(body: ForwardedCaseCreate) -> tuple[str, str]:
    """(type, checked identifier) of the partner's applicant; 422 naming the field otherwise."""
    a = body.applicant
    field, value = ("applicant.id_number", a.id_number) if a.type == "person" else ("applicant.credit_code",
                                                                                    a.credit_code)
    if not value:
        raise InvalidField(field, f"required for a {a.type} applicant")
    try:
        return a.type, normalize_resident_id(value) if a.type == "person" else normalize_credit_code(value)
    except InvalidIdentifier as exc:
        raise InvalidField(field, str(exc)) from exc


async def forward(session: AsyncSession, body: ForwardedCaseCreate, p: Principal, city: str) -> CaseRead:
    """Submit the partner's case here (instant approval applies as for any submission).

    Two deliveries of one partner case under different message ids must not make two cases: the
    unique index `uq_case_partner_case` (partner region, partner case number) decides, with no lock
    or look first (they were two of the intake's round trips). The case's row goes in with its
    timeline, audit and outbox rows in the transaction's one batched statement (submission's
    `batched` form: nothing touches the case through the ORM after this), sent before the key's
    answer is stored; a second delivery fails there with the index's violation, which the router
    answers with `AlreadyForwarded` (`refused_as_duplicate`, `already_forwarded`). A concurrent
    second delivery waits on the index for the first to commit (its number's row lock first: the
    same city and day), then fails the same way; had the first rolled back, it goes in."""
    applicant_type, applicant_id = applicant(body)
    if body.partner_region == city:
        raise InvalidField("partner_region", "a city does not forward cases to itself")
    create = CaseCreate(basic_code=body.basic_code, implementation_code=body.implementation_code,
                        form_data=body.form_data)
    origin = submission.Origin(applicant_type, applicant_id, body.applicant.name, "partner", body.partner_region,
                               body.partner_case_number)
    opened = await submission.open_submission(session, create, p, city, origin=origin)
    return await submission.complete(session, opened, p, None, {}, batched=True)


def refused_as_duplicate(exc: IntegrityError) -> bool:
    """The write failed on `uq_case_partner_case`: this partner case is a case here already."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(cause, UniqueViolationError) and cause.constraint_name == UNIQUE_PARTNER_CASE


async def already_forwarded(session: AsyncSession, body: ForwardedCaseCreate) -> AlreadyForwarded:
    """The refusal of a second delivery, naming the case the first one made (read in a fresh
    transaction: the caller rolled back the failed one)."""
    # The index refused the row only once the first delivery's case had committed (it waits for
    # a transaction in flight), and a case is never deleted: it is there to read.
    existing = (await session.execute(_FORWARDED, {"region": body.partner_region,
                                                   "number": body.partner_case_number})).one()
    return AlreadyForwarded(f"partner case {body.partner_case_number} is case {existing.case_number} here",
                            case_id=str(existing.id), case_number=existing.case_number)
