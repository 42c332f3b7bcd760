from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import IntegrityError

from tongban.cases.case.errors import ItemNotAvailable
from tongban.cases.case.schemas import CaseRead
from tongban.cases.forwarding import service
from tongban.cases.forwarding.schemas import ForwardedCaseCreate
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, Principal
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep, write_kept
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import BadIdempotencyKey, IdempotencyDep, IdempotencyKeyReused

router = APIRouter(tags=["forwarded cases"])
Forwarder = Annotated[Access, Depends(Authorize(POLICY, "case.forward"))]


@router.post("/forwarded-cases", status_code=201, response_model=CaseRead,
             responses=responses(*AUTH_ERRORS, InvalidField, ItemNotAvailable, service.AlreadyForwarded,
                                 BadIdempotencyKey, IdempotencyKeyReused))
async def forward_case(body: ForwardedCaseCreate, request: Request, session: SessionDep, access: Forwarder,
                       idem: IdempotencyDep):
    """A partner city's case, relayed by svc-interop (scope `cases:forward`). `Idempotency-Key`
    (the partner's message id) is required: the same key gives the same case. The case is
    `submitted` (or `approved` by instant approval) with channel `partner`."""
    actor = access.principal
    assert isinstance(actor, Principal)  # the policy admits services only
    if idem.key is None:
        raise BadIdempotencyKey("Idempotency-Key is required (the partner's message id)")
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    try:
        case = await service.forward(session, body, actor, request.app.state.settings.default_city_code)
        # The case's row (batched) and the stored answer are written here, in one statement, not
        # with the COMMIT: a second delivery of the partner case under another message id fails
        # here, on the unique index.
        answer = await idem.remember(session, 201, case)
        await write_kept(session)
        return answer
    except IntegrityError as exc:
        if not service.refused_as_duplicate(exc):
            raise
        await session.rollback()  # nothing of this delivery stays (not even its key's claim)
        raise await service.already_forwarded(session, body) from None
