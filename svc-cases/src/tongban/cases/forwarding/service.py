"""Cases forwarded by a partner city (异地受理, 深中通办): the partner's applicant is named in the
body (the caller is svc-interop's service token, not the applicant), the case is submitted in
this city with channel `partner` and keeps the partner's region and case number, which every
later `cases.case.*` event carries so svc-interop can report each step back."""

from __future__ import annotations

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.case.models import Case
from tongban.cases.case import submission
from tongban.cases.case.schemas import CaseCreate, CaseRead
from tongban.cases.forwarding.schemas import ForwardedCaseCreate
from tongban.shared.auth import Principal
from tongban.shared.errors import Conflict, InvalidField
from tongban.shared.ids import InvalidIdentifier, normalize_credit_code, normalize_resident_id


# Built once, the values bound apart (SQLAlchemy keeps their cache keys and compiled forms): the
# lock on the partner case, and what a refusal of a second delivery names (not the whole case).
_LOCK = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("key", type_=String()))))
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
    """Submit the partner's case here (instant approval applies as for any submission)."""
    applicant_type, applicant_id = applicant(body)
    if body.partner_region == city:
        raise InvalidField("partner_region", "a city does not forward cases to itself")
    # Two deliveries of one partner case under different message ids must not make two cases:
    # serialise on the partner case, then look.
    await session.execute(_LOCK, {"key": f"forwarded:{body.partner_region}:{body.partner_case_number}"})
    existing = (await session.execute(_FORWARDED, {"region": body.partner_region,
                                                   "number": body.partner_case_number})).first()
    if existing is not None:
        raise AlreadyForwarded(f"partner case {body.partner_case_number} is case {existing.case_number} here",
                               case_id=str(existing.id), case_number=existing.case_number)
    create = CaseCreate(basic_code=body.basic_code, implementation_code=body.implementation_code,
                        form_data=body.form_data)
    origin = submission.Origin(applicant_type, applicant_id, body.applicant.name, "partner", body.partner_region,
                          body.partner_case_number)
    return await submission.submit(session, create, p, city, origin=origin)
