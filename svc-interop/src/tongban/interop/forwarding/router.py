import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.exchange.errors import ItemNotGranted
from tongban.interop.exchange.guard import EXCHANGE_ERRORS, Exchange
from tongban.interop.exchange.service import Inbound
from tongban.interop.forwarding import migration, repository, service
from tongban.interop.forwarding.cases_client import CaseRefused
from tongban.interop.forwarding.errors import IncomingCaseNotFound, OutgoingCaseNotFound, PartnerCaseNumberReused
from tongban.interop.forwarding.models import IncomingCase, OutgoingCase
from tongban.interop.forwarding.schemas import (
    CaseStatusChange, CompanyMigration, ForwardAck, ForwardedCase, IncomingCaseRead, OutgoingCaseCreate,
    OutgoingCaseRead, StatusAck,
)
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Can, Caller
from tongban.shared.auth import Principal
from tongban.shared.policy import Target
from tongban.shared.db import SessionDep, write_kept
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import Idempotency, IdempotencyDep, IdempotencyKeyReused
from tongban.shared.ids import mask_resident_id
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.service_auth import UpstreamUnavailable

router = APIRouter(tags=["case forwarding"])
Clerk = Caller("outgoing_case.forward")
REGION = r"^\d{6}$"


KIND = Query(pattern="^(case|company_migration)$", description="forwarded cases or company migrations")


def _owns(case: OutgoingCase | IncomingCase, viewer: Principal) -> bool:
    mine = viewer.credit_code if case.kind == migration.KIND else viewer.id_number
    return mine is not None and mine == case.applicant_id_number


def _outgoing(case: OutgoingCase, viewer: Principal) -> OutgoingCaseRead:
    out = OutgoingCaseRead.model_validate(case)
    if not _owns(case, viewer):
        out.applicant_id_number = mask_resident_id(case.applicant_id_number)
    return out


def _incoming(case: IncomingCase, viewer: Principal) -> IncomingCaseRead:
    out = IncomingCaseRead.model_validate(case)
    if not _owns(case, viewer):
        out.applicant_id_number = mask_resident_id(case.applicant_id_number)
    return out


@router.post("/outgoing-cases", status_code=201, response_model=OutgoingCaseRead,
             responses=responses(*AUTH_ERRORS, PartnerNotFound, InvalidField, IdempotencyKeyReused))
async def forward_case(body: OutgoingCaseCreate, request: Request, session: SessionDep, actor: Clerk,
                       idem: IdempotencyDep):
    """Accept a case here for a partner city's item and forward it there (clerks, 异地受理).

    The answer comes at once; the partner's case number arrives when it accepts the message
    (`status` becomes `accepted_by_partner`), and its progress after that.
    """
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    case = await service.forward(session, body, request.app.state.settings.region_code, actor)
    return await idem.remember(session, 201, _outgoing(case, actor))


@router.get("/outgoing-cases", response_model=Page[OutgoingCaseRead], responses=responses(*AUTH_ERRORS))
async def list_outgoing_cases(session: SessionDep, page: PageDep, viewer: Caller("outgoing_case.list"),
                              partner: Annotated[str | None, Query(pattern=REGION)] = None,
                              kind: Annotated[str | None, KIND] = None) -> Page[OutgoingCaseRead]:
    """Cases forwarded to partner cities and companies moving to them, newest first (staff)."""
    return await paginate(session, repository.outgoing_query(partner, kind), page, lambda c: _outgoing(c, viewer))


@router.get("/outgoing-cases/{case_id}", response_model=OutgoingCaseRead,
            responses=responses(*AUTH_ERRORS, OutgoingCaseNotFound))
async def get_outgoing_case(case_id: uuid.UUID, session: SessionDep,
                            access: Can("outgoing_case.read")) -> OutgoingCaseRead:
    """A forwarded case with the partner's case number and progress (the applicant, or staff)."""
    case = await repository.get_outgoing(session, case_id)
    if case is None:
        raise OutgoingCaseNotFound()
    access.check(Target(owner=case.applicant_id_number, item=case.item_code))
    assert access.principal is not None  # no rule of outgoing_case.read admits an anonymous caller
    return _outgoing(case, access.principal)


@router.get("/incoming-cases", response_model=Page[IncomingCaseRead], responses=responses(*AUTH_ERRORS))
async def list_incoming_cases(session: SessionDep, page: PageDep, viewer: Caller("incoming_case.read"),
                              partner: Annotated[str | None, Query(pattern=REGION)] = None,
                              kind: Annotated[str | None, KIND] = None) -> Page[IncomingCaseRead]:
    """Cases partner cities forwarded to us and companies moving here, newest first (staff)."""
    return await paginate(session, repository.incoming_query(partner, kind), page, lambda c: _incoming(c, viewer))


@router.get("/incoming-cases/{case_id}", response_model=IncomingCaseRead,
            responses=responses(*AUTH_ERRORS, IncomingCaseNotFound))
async def get_incoming_case(case_id: uuid.UUID, session: SessionDep,
                            viewer: Caller("incoming_case.read")) -> IncomingCaseRead:
    """One case a partner forwarded to us (staff; its applicant follows it in svc-cases)."""
    case = await repository.get_incoming(session, case_id)
    if case is None:
        raise IncomingCaseNotFound()
    return _incoming(case, viewer)


@router.post("/exchange/cases", status_code=202, response_model=ForwardAck,
             responses=responses(*EXCHANGE_ERRORS, ItemNotGranted, InvalidField, CaseRefused, IdempotencyKeyReused,
                                 PartnerCaseNumberReused, UpstreamUnavailable))
async def receive_forwarded_case(body: ForwardedCase, request: Request, session: SessionDep,
                                 inbound: Annotated[Inbound, Depends(Exchange("case.forward", claim_alone=True))],
                                 idem: IdempotencyDep):
    """`case.forward` (partners): a case accepted in the partner city for one of our items.

    Answers 202 with our case number; status changes follow as `case.status` messages to the
    partner. The message id is the idempotency key: a resend gets the first answer.
    """
    async with request.app.state.reads() as reads:  # reads only, no transaction (see _open)
        found = await service.receive(reads, inbound, body)
    return await _open(session, inbound, idem, found, request)


@router.post("/exchange/case-status", response_model=StatusAck,
             responses=responses(*EXCHANGE_ERRORS, OutgoingCaseNotFound, IdempotencyKeyReused))
async def receive_case_status(body: CaseStatusChange, session: SessionDep,
                              inbound: Annotated[Inbound, Depends(Exchange("case.status"))], idem: IdempotencyDep):
    """`case.status` (partners): the handling city reports a status change of a case we forwarded."""
    if (replay := await idem.claim(session, inbound.owner)) is not None:
        return replay
    return await idem.remember(session, 200, await service.apply_partner_status(session, inbound, body))


@router.post("/exchange/company-migrations", status_code=202, response_model=ForwardAck,
             responses=responses(*EXCHANGE_ERRORS, InvalidField, CaseRefused, IdempotencyKeyReused,
                                 PartnerCaseNumberReused, UpstreamUnavailable))
async def receive_company_migration(body: CompanyMigration, request: Request, session: SessionDep,
                                    inbound: Annotated[Inbound, Depends(Exchange("company.migrate", claim_alone=True))],
                                    idem: IdempotencyDep):
    """`company.migrate` (partners): a company whose move-out the partner approved moves here (企业迁移).

    Answers 202 with our migration-in case number (opened in svc-cases); its steps follow as
    `case.status` messages, as for a forwarded case."""
    async with request.app.state.reads() as reads:  # reads only, no transaction (see _open)
        found = await migration.receive(reads, inbound, body)
    return await _open(session, inbound, idem, found, request)


async def _open(session: AsyncSession, inbound: Inbound, idem: Idempotency, found: ForwardAck | service.Opening,
                request: Request) -> JSONResponse:
    """Answer a partner's case or migration: from the record we hold, or by opening it in svc-cases.

    svc-cases is called with no transaction of ours open (no pooled connection, row lock or
    uncommitted nonce held through another service's latency), in three steps:
    1. the guard's nonce claim is committed as it runs (`Exchange(..., claim_alone=True)`: its own
       statement, no BEGIN or COMMIT round trip), the checks that read (`receive`) read with no
       transaction: from then on a replay of this signature is refused, even while this message
       is in flight;
    2. svc-cases opens the case, the message id as its Idempotency-Key;
    3. one transaction claims the message id (a concurrent resend that got there first is
       replayed: the same answer), records the case with its audit row and event (one batched
       statement), and stores the answer. When a record of the case was there first (a concurrent
       message under another message id), that statement fails on the record's unique keys: the
       transaction rolls back and a fresh one claims the message id and answers from the record.
    A crash after 1 leaves the nonce alone (it expires); after 2, svc-cases' case with no record
    here: the partner resends (same message id, new nonce; the deliverer retries until it has
    an answer), svc-cases finds the same case and 3 records it. 3 is one transaction: all or
    nothing. The exchange's log entry is appended (middleware) once the answer is known, before
    it leaves; a message whose answer never left is logged by its resend."""
    if isinstance(found, ForwardAck):
        # A case we hold (any message id): one transaction, as every other exchange.
        if (replay := await idem.claim(session, inbound.owner)) is not None:
            return replay
        return await idem.remember(session, 202, found)
    await session.commit()
    state = request.app.state
    opened = await service.open_case(state.cases, inbound, found, getattr(state, "cases_slots", None))
    try:
        if (replay := await idem.claim(session, inbound.owner)) is not None:
            return replay
        # The record, its audit row and event and the stored answer go as one statement here (not
        # with the COMMIT), so that a record there first fails here, on its unique index.
        answer = await idem.remember(session, 202, await service.record_opened(session, inbound, found, opened))
        await write_kept(session)
        return answer
    except IntegrityError as exc:
        if not repository.recorded_before(exc):
            raise
        await session.rollback()  # a record of this case was there first: nothing of ours stays
    if (replay := await idem.claim(session, inbound.owner)) is not None:
        return replay
    return await idem.remember(session, 202, await service.recorded_before(session, inbound, found, opened))
