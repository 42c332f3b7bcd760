import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.presentation import service
from tongban.credentials.presentation.errors import MalformedPresentation, NotPresentable
from tongban.credentials.presentation.schemas import PresentationCreate, PresentationRead, VerificationRequest, VerificationResult
from tongban.shared.auth import AUTH_ERRORS, NotOwner, Principal, Requires, optional_principal
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused

router = APIRouter(tags=["presentations"])
Holder = Annotated[Principal, Depends(Requires("credentials:read"))]


@router.post("/licences/{licence_id}/presentations", status_code=201, response_model=PresentationRead,
             responses=responses(*AUTH_ERRORS, LicenceNotFound, NotOwner, NotPresentable, InvalidField,
                                 IdempotencyKeyReused))
async def present_licence(licence_id: uuid.UUID, body: PresentationCreate, request: Request, session: SessionDep,
                          holder: Holder, idem: IdempotencyDep):
    """Show a licence (亮证): a signed QR payload, valid for a few minutes, with all or some fields."""
    if (replay := await idem.claim(session, holder.sub)) is not None:
        return replay
    row, qr = await service.create(session, licence_id, body, holder,
                                   request.app.state.settings.presentation_ttl_seconds)
    return await idem.remember(session, 201, PresentationRead(id=row.id, qr=qr, expires_at=row.expires_at,
                                                              fields=row.fields))


@router.post("/verifications", response_model=VerificationResult, responses=responses(MalformedPresentation))
async def verify_presentation(body: VerificationRequest, request: Request, session: SessionDep) -> VerificationResult:
    """Verify a presentation (public: no login; a logged-in verifier is recorded as such)."""
    return await service.verify(session, body.presentation, await optional_principal(request),
                                request.app.state.partner_status_lists)
