import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from tongban.cases.material import service
from tongban.cases.material.errors import DocumentTooLarge, DocumentUnusable, UnsupportedDocumentType
from tongban.cases.material.schemas import DocumentRead
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS, RealNameRequired
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.policy import Access, Authorize

# Only the upload is this aggregate's own: reading a document, and a case's materials, go through
# the cases that list them (tongban.cases.case_material_router, above both aggregates).
router = APIRouter(tags=["materials"])
Uploader = Annotated[Access, Depends(Authorize(POLICY, "document.upload"))]
MULTIPART = "multipart/form-data"
# A multipart body carries the file plus its part headers and the boundaries: what it may add.
MULTIPART_OVERHEAD = 64 * 1024
# Types a file's name tells, for a part sent as application/octet-stream (wx.uploadFile does).
BY_EXTENSION = {".ofd": "application/ofd", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                ".pdf": "application/pdf"}


def _part_type(part: UploadFile) -> str:
    declared = (part.content_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    name = (part.filename or "").lower()
    suffix = name[name.rfind("."):] if "." in name else ""
    return BY_EXTENSION.get(suffix) or (mimetypes.guess_type(name)[0] or declared)


async def _multipart_file(request: Request, limit: int) -> tuple[bytes, str, str | None]:
    """The one file of a multipart body (wx.uploadFile: the file under the `name` the app chose,
    beside its `formData` fields): its bytes (at most `limit` + 1 read), type and name."""
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=64 * 1024)
    except (MultiPartException, HTTPException) as exc:
        raise DocumentUnusable("file", f"the multipart body cannot be read: {getattr(exc, 'detail', exc)}") from exc
    try:
        files = [v for v in form.values() if isinstance(v, UploadFile)]
        if len(files) != 1:
            raise DocumentUnusable("file", "send exactly one file in the multipart body")
        part = files[0]
        content = await part.read(limit + 1)
        named = form.get("filename")
        return content, _part_type(part), named if isinstance(named, str) and named else part.filename
    finally:
        await form.close()


@router.post("/documents", summary="上传材料", status_code=201, response_model=DocumentRead,
             responses=responses(*AUTH_ERRORS, RealNameRequired, DocumentTooLarge, UnsupportedDocumentType,
                                 DocumentUnusable, IdempotencyKeyReused),
             openapi_extra={"requestBody": {"required": True, "content": {
                 **{t: {"schema": {"type": "string", "format": "binary"}} for t in
                    ("application/pdf", "image/jpeg", "image/png", "application/ofd")},
                 MULTIPART: {"schema": {"type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary",
                              "description": "the file (wx.uploadFile: any `name`; one file)"},
                     "filename": {"type": "string", "maxLength": 200}}}}}}})
async def upload_document(request: Request, session: SessionDep, access: Uploader, idem: IdempotencyDep,
                          filename: Annotated[str | None, Query(min_length=1, max_length=200)] = None):
    """上传材料. Upload a file to the document store, either as the raw body (`Content-Type` its
    type, `filename` in the query) or as `multipart/form-data` with one file part, as
    `wx.uploadFile` sends it (its type from the part, or from its name when the part says
    `application/octet-stream`; its name from the part, a `filename` field or the query). Name the
    returned id in a submission's `materials` (or `POST /cases/{id}/materials`) to attach it.
    413 over the size limit, 415 for a type not accepted, 422 when empty or not of its type."""
    actor = access.principal
    assert actor is not None  # the policy admits no anonymous upload
    settings = request.app.state.settings
    limit = settings.document_max_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = content_type == MULTIPART
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + (MULTIPART_OVERHEAD if multipart else 0):
        raise DocumentTooLarge(f"{length} bytes; the limit is {limit}")
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    if multipart:
        content, mime_type, part_name = await _multipart_file(request, limit)
        name = filename or part_name
    else:
        content, mime_type, name = await request.body(), content_type, filename
    if not name or len(name) > 200:
        raise DocumentUnusable("filename", "name the file (1 to 200 characters): the `filename` query "
                                           "parameter, or the file part's name")
    doc = await service.upload(session, content, mime_type, name, actor, settings)
    return await idem.remember(session, 201, DocumentRead.model_validate(doc))
