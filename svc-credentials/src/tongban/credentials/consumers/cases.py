"""Handlers of svc-cases' events: an approved case whose item produces a licence gets it (证照联办),
and a company's registration (an approved case of a registration item, applicant a company) gets
its four e-seals, free.

Exactly one licence per case: the inbox drops a redelivered event, and the unique source case
id on the licence drops the same approval arriving under another event id; seals likewise by
their source case.

One durable consumer does both: a second one cost every approval a second transaction and inbox
row (about a quarter of the service's CPU per instant approval). The two stay independent: an
approval that can never give its licence (unknown type, wrong department, a missing field) still
gives the company its seals, and the other way round. A licence that can never be issued is
told back to the case (`credentials.licence.issue_failed`) and kept as a dead letter; seals that
cannot be issued dead-letter the event as before (when the licence part has work too, the failed
part runs in a savepoint and is dead-lettered on its own while the other commits).
"""

from collections.abc import Awaitable, Callable

from pydantic import ValidationError
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


async def _licence(session: AsyncSession, approved: CaseApprovedV1, event: Envelope) -> None:
    # No savepoint (it would cost every approval two statements): every refusal of issue_for_case
    # (type, department, holder, fields, validity) comes before its first write.
    try:
        data = LicenceCreate(type_code=approved.result_licence_type_code, holder_id=approved.applicant_id,
                             holder_name=approved.applicant_name, data=approved.data,
                             valid_from=approved.approved_at.date())
        await service.issue_for_case(session, data, approved.case_id, approved.department)
    except KeyMissing:
        raise   # the store, not the event, is at fault: retried with backoff like any transient error
    except (AppError, ValidationError) as exc:
        # The event can never produce a licence (unknown type, bad fields). The case hears why
        # (`credentials.licence.issue_failed`, so the department sees it on the case) and the
        # event is kept as a dead letter for a human; nothing is retried.
        reason = exc.detail if isinstance(exc, AppError) else _first_error(exc)
        await service.licence_issue_failed(session, approved, reason)
        await _dead_letter(session, event, f"licence: case {approved.case_number}: {reason}")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


async def _dead_letter(session: AsyncSession, event: Envelope, fault: str) -> None:
    # Committed with the rest of the handling; the inbox row keeps a redelivery from redoing it.
    await session.execute(platform.dead_letter.insert().values(
        consumer=DURABLE, event_id=str(event.id), subject=CASE_APPROVED, payload=event.model_dump_json(),
        error=f"PoisonMessage: {fault}"[:4000], deliveries=1))


async def _seals(session: AsyncSession, approved: CaseApprovedV1, event: Envelope) -> None:
    try:
        await seals.issue_for_registration(session, approved)
    except InvalidIdentifier as exc:
        raise PoisonMessage(f"case {approved.case_number}: applicant credit code: {exc}") from exc


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    if event.type != CASE_APPROVED:
        return
    approved = CaseApprovedV1.model_validate(event.data)
    parts: list[tuple[str, Callable[[AsyncSession, CaseApprovedV1, Envelope], Awaitable[None]]]] = []
    if approved.result_licence_type_code is not None:
        parts.append(("licence", _licence))
    if approved.applicant_type == "company":
        parts.append(("seals", _seals))
    if len(parts) == 1:
        await parts[0][1](session, approved, event)
        return
    faults = []
    for name, apply in parts:
        try:
            async with session.begin_nested():
                await apply(session, approved, event)
        except PoisonMessage as exc:
            faults.append(f"{name}: {exc}")
    if faults and len(faults) == len(parts):
        raise PoisonMessage("; ".join(faults))
    for fault in faults:
        await _dead_letter(session, event, fault)


# Only approvals: the wider `cases.case.>` cost a transaction and an inbox row for every other step
# of every case (two or three per instant approval) for nothing. A consumer created earlier with the
# wider filter keeps it (JetStream binds the existing durable); its other events are skipped below.
# Approvals arriving together (a busy minute of 秒批) share one transaction and one durable commit:
# the inbox rows go in with one insert and each approval is handled in order; a group that fails
# anywhere is rolled back and each approval handled alone (tongban.shared.events.inbox). Every
# licence keeps its own serial, status position, signature, outbox event and audit row.
# A steady stream of approvals (秒批 at 50/s, one every 20 ms) forms no groups by itself: after a
# quiet spell's first approval the consumer lingers LINGER seconds for the next ones, so two or
# three share a transaction, a commit and the relay's pass that publishes their licences; the
# holder waits at most that much longer for the licence.
TOGETHER = 20
LINGER = 0.03
SUBSCRIPTIONS = [Subscription(source="cases", subject=CASE_APPROVED, durable=DURABLE, handler=on_case_event,
                              together=TOGETHER, linger=LINGER)]
