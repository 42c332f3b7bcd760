import asyncio
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from tongban.credentials.licence import repository as licences
from tongban.credentials.licence.errors import LicenceNotFound
from tongban.credentials.licence.router import licence_record
from tongban.credentials.licence_type import repository as licence_types
from tongban.credentials.picture import render
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Can
from tongban.credentials.presentation import service as presentations
from tongban.credentials.presentation.errors import NotPresentable
from tongban.credentials.presentation.schemas import PresentationCreate
from tongban.credentials.signing import repository as issuers
from tongban.shared.cjk_font import CjkFontMissing
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses

router = APIRouter(tags=["licence pictures"])
Presenter = Can("licence.present")
MEDIA = {"png": "image/png", "pdf": "application/pdf"}


@router.get("/licences/{licence_id}/picture", response_class=Response,
            responses={200: {"content": {m: {} for m in MEDIA.values()}},
                       **responses(*AUTH_ERRORS, LicenceNotFound, NotPresentable, CjkFontMissing)})
async def licence_picture(licence_id: uuid.UUID, request: Request, session: SessionDep, access: Presenter,
                          format: Annotated[Literal["png", "pdf"], Query()] = "png") -> Response:
    """The licence as a picture (照面), PNG or PDF, from its type's template, with a QR code carrying
    a fresh presentation of every field (valid for the presentation lifetime; reusable while it
    lasts, so a clerk may scan it twice). The holder, or an agent under a delegation granting
    `licence.present`. A GET because it shows what the holder has; the presentation it makes is
    audited like any other and never cached (`no-store`)."""
    holder = access.principal
    licence = await licences.get(session, licence_id)
    if licence is None:
        raise LicenceNotFound()
    access.check(licence_record(licence))
    row, qr = await presentations.create(session, licence_id, PresentationCreate(fields=None, single_use=False),
                                         holder, request.app.state.settings.presentation_ttl_seconds)
    kind = await licence_types.get(session, licence.type_code)
    assert kind is not None  # a licence's type is a foreign key
    issuer = await issuers.get_issuer(session, licence.issuer_code)
    template = render.template_of(kind.name, kind.fields, kind.template)
    filled = render.fill(template, kind.name, licence.holder_name, licence.data, licence.identifier,
                         issuer.name if issuer is not None else licence.issuer_code, qr)
    # Rendering is CPU work: off the event loop.
    body = await asyncio.to_thread(render.png if format == "png" else render.pdf, filled)
    return Response(body, media_type=MEDIA[format], headers={
        "Cache-Control": "no-store", "X-Presentation-Expires": row.expires_at.isoformat(),
        "Content-Disposition": f'inline; filename="licence-{licence.identifier[-12:]}.{format}"'})
