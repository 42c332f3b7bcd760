"""`POST /cases/{id}/documents` across two services: svc-cases fixes what the notice says and
renders it; svc-credentials presses the department's seal; never while a cases transaction is open
(the pattern of submission_flow).

1. One transaction: the Idempotency-Key is claimed, the case checked, the document recorded as
   `sealing` with its content (the key answers 409 `document_in_progress` meanwhile).
2. No transaction: the PDF is rendered (in a worker thread) and sealed at svc-credentials (the
   document id is the key there: a retry never seals twice).
3. One transaction: the sealed PDF is stored; the key remembers the answer.
If step 2 or 3 fails, the document is marked `failed` with the reason, and the problem is what the
key replays; producing it again is a new request."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.cases.case.access import get_visible
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.document import render, repository, service
from tongban.cases.document.schemas import CaseDocumentRead
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError, problem_response
from tongban.shared.idempotency import Idempotency

log = logging.getLogger("tongban.cases.documents")
IN_PROGRESS = ("document_in_progress", "The document with this Idempotency-Key is still being sealed")


async def produce(sessions: async_sessionmaker[AsyncSession], request: Request, case_id: uuid.UUID, kind: str,
                  p: Principal, idem: Idempotency, credentials: CredentialsClient) -> JSONResponse:
    path = request.url.path
    verify_base = request.app.state.settings.document_verify_url
    async with sessions() as session, session.begin():
        if (replay := await idem.claim(session, p.sub)) is not None:
            return replay
        case = await get_visible(session, case_id, p, permission="case_document.produce")
        row = await service.open_document(session, case, kind, p, verify_base)
        await idem.remember(session, 409, _problem(409, *IN_PROGRESS, "svc-credentials is sealing it", path,
                                                   document_id=str(row.id)))
    try:
        pdf = await asyncio.to_thread(render.pdf, row.facts, f"办理机关 {case.department}", str(row.id))
        seal = await credentials.seal_document(row.id, row.title, case.case_number, case.department, pdf)
        async with sessions() as session, session.begin():
            await service.sealed(session, row, seal, p)
            done = await repository.get(session, case_id, row.id)
            return await idem.remember(session, 201, CaseDocumentRead.model_validate(done))
    except Exception as exc:  # noqa: BLE001 - whatever failed, the document says so and the key replays it
        if isinstance(exc, AppError):
            status, code, title, detail = exc.status, exc.code, exc.title, exc.detail
        else:
            log.error("document %s of case %s not sealed", row.id, case_id, exc_info=exc)
            status, code, title, detail = 500, "document_failed", "The document was not produced", None
        body = _problem(status, code, title, detail, path, document_id=str(row.id))
        async with sessions() as session, session.begin():
            await service.failed(session, row, detail or title, p)
            await idem.remember(session, status, body)
        return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _problem(status: int, code: str, title: str, detail: str | None, path: str, **extra: object) -> dict:
    return json.loads(problem_response(status, code, title, detail, path, **extra).body)
