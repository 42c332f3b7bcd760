"""Handlers of svc-cases' events: an approved case whose item produces a licence gets it (证照联办).

Exactly one licence per case: the inbox drops a redelivered event, and the unique source case
id on the licence drops the same approval arriving under another event id.

A company's registration (an approved case of a registration item, applicant a company) gets its
four e-seals, free. That runs as a second durable consumer, so a licence that can never be issued
(dead-lettered) does not hold back the seals, nor the other way round.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence import service
from tongban.credentials.licence.schemas import LicenceCreate
from tongban.credentials.seal import service as seals
from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
from tongban.shared.errors import AppError
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage, Subscription
from tongban.shared.ids import InvalidIdentifier


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    if event.type != CASE_APPROVED:
        return
    approved = CaseApprovedV1.model_validate(event.data)
    if approved.result_licence_type_code is None:
        return
    try:
        data = LicenceCreate(type_code=approved.result_licence_type_code, holder_id=approved.applicant_id,
                             holder_name=approved.applicant_name, data=approved.data,
                             valid_from=approved.approved_at.date())
        await service.issue_for_case(session, data, approved.case_id, approved.department)
    except AppError as exc:
        # The event can never produce a licence (unknown type, bad fields): keep it for a human.
        raise PoisonMessage(f"case {approved.case_number}: {exc.detail}") from exc


async def on_case_approved_for_seals(session: AsyncSession, event: Envelope) -> None:
    if event.type != CASE_APPROVED:
        return
    approved = CaseApprovedV1.model_validate(event.data)
    try:
        await seals.issue_for_registration(session, approved)
    except InvalidIdentifier as exc:
        raise PoisonMessage(f"case {approved.case_number}: applicant credit code: {exc}") from exc


SUBSCRIPTIONS = [Subscription(source="cases", subject="cases.case.>", durable="credentials-cases-case",
                              handler=on_case_event),
                 Subscription(source="cases", subject=CASE_APPROVED, durable="credentials-cases-seal",
                              handler=on_case_approved_for_seals)]
