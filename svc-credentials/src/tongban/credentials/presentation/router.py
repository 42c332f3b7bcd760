import uuid

from fastapi import APIRouter, Request
from tongban.credentials.licence import repository as licences
from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.licence.router import licence_record
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Can, Public
from tongban.credentials.presentation import service
from tongban.credentials.presentation.errors import MalformedPresentation, NotPresentable
from tongban.credentials.presentation.schemas import (
    PresentationCreate,
    PresentationRead,
    VerificationRequest,
    VerificationResult,
)
from tongban.shared.auth import optional_principal
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused

router = APIRouter(tags=["presentations"])
Presenter = Can("licence.present")


@router.post("/licences/{licence_id}/presentations", summary="亮证（出示电子证照）",
             status_code=201, response_model=PresentationRead,
             responses=responses(*AUTH_ERRORS, LicenceNotFound, NotPresentable, InvalidField,
                                 IdempotencyKeyReused))
async def present_licence(licence_id: uuid.UUID, body: PresentationCreate, request: Request, session: SessionDep,
                          access: Presenter, idem: IdempotencyDep):
    """Show a licence (亮证): a signed QR payload, valid for a few minutes, with all or some fields.
    The holder, or an agent under a delegation granting `licence.present`."""
    holder = access.principal
    if (replay := await idem.claim(session, holder.sub)) is not None:
        return replay
    licence = await licences.get(session, licence_id)
    if licence is None:
        raise LicenceNotFound()
    access.check(licence_record(licence))
    row, qr = await service.create(session, licence_id, body, holder,
                                   request.app.state.settings.presentation_ttl_seconds)
    return await idem.remember(session, 201, PresentationRead(id=row.id, qr=qr, expires_at=row.expires_at,
                                                              fields=row.fields))


@router.post("/verifications", summary="核验电子证照",
             response_model=VerificationResult, responses=responses(MalformedPresentation),
             dependencies=[Public("presentation.verify")])
async def verify_presentation(body: VerificationRequest, request: Request, session: SessionDep) -> VerificationResult:
    """Verify a presentation (public: no login; a logged-in verifier is recorded as such)."""
    return await service.verify(session, body.presentation, await optional_principal(request),
                                request.app.state.partner_status_lists)
