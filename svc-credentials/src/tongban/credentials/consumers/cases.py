"""Handlers of svc-cases' events: an approved case whose item produces a licence gets it (证照联办),
and a company's registration (an approved case of a registration item, applicant a company) gets
its four e-seals, free.

Exactly one licence per case: the inbox drops a redelivered event, and the unique source case
id on the licence drops the same approval arriving under another event id; seals likewise by
their source case.

One durable consumer does both: a second one cost every approval a second transaction and inbox
row (about a quarter of the service's CPU per instant approval). The two stay independent: an
approval that can never give its licence (unknown type, wrong department, a missing field) still
gives the company its seals, and the other way round. When only one of them has work, its poison
dead-letters the event as before; when both have, each runs in a savepoint and a failed one is
dead-lettered on its own while the other commits.
"""

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.db import platform
from tongban.credentials.licence import service
from tongban.credentials.licence.schemas import LicenceCreate
from tongban.credentials.seal import service as seals
from tongban.credentials.signing.keystore import KeyMissing
from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
from tongban.shared.errors import AppError
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage, Subscription
from tongban.shared.ids import InvalidIdentifier

DURABLE = "credentials-cases-case"


async def _licence(session: AsyncSession, approved: CaseApprovedV1) -> None:
    try:
        data = LicenceCreate(type_code=approved.result_licence_type_code, holder_id=approved.applicant_id,
                             holder_name=approved.applicant_name, data=approved.data,
                             valid_from=approved.approved_at.date())
        await service.issue_for_case(session, data, approved.case_id, approved.department)
    except KeyMissing:
        raise   # the store, not the event, is at fault: retried with backoff like any transient error
    except AppError as exc:
        # The event can never produce a licence (unknown type, bad fields): keep it for a human.
        raise PoisonMessage(f"case {approved.case_number}: {exc.detail}") from exc


async def _seals(session: AsyncSession, approved: CaseApprovedV1) -> None:
    try:
        await seals.issue_for_registration(session, approved)
    except InvalidIdentifier as exc:
        raise PoisonMessage(f"case {approved.case_number}: applicant credit code: {exc}") from exc


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    if event.type != CASE_APPROVED:
        return
    approved = CaseApprovedV1.model_validate(event.data)
    parts: list[tuple[str, Callable[[AsyncSession, CaseApprovedV1], Awaitable[None]]]] = []
    if approved.result_licence_type_code is not None:
        parts.append(("licence", _licence))
    if approved.applicant_type == "company":
        parts.append(("seals", _seals))
    if len(parts) == 1:
        await parts[0][1](session, approved)
        return
    faults = []
    for name, apply in parts:
        try:
            async with session.begin_nested():
                await apply(session, approved)
        except PoisonMessage as exc:
            faults.append(f"{name}: {exc}")
    if faults and len(faults) == len(parts):
        raise PoisonMessage("; ".join(faults))
    for fault in faults:
        # Committed with what the other part did; the inbox row keeps a redelivery from redoing it.
        await session.execute(platform.dead_letter.insert().values(
            consumer=DURABLE, event_id=str(event.id), subject=CASE_APPROVED, payload=event.model_dump_json(),
            error=f"PoisonMessage: {fault}"[:4000], deliveries=1))


# Only approvals: the wider `cases.case.>` cost a transaction and an inbox row for every other step
# of every case (two or three per instant approval) for nothing. A consumer created earlier with the
# wider filter keeps it (JetStream binds the existing durable); its other events are skipped below.
SUBSCRIPTIONS = [Subscription(source="cases", subject=CASE_APPROVED, durable=DURABLE, handler=on_case_event)]
