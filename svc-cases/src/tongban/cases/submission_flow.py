"""`POST /cases` across two services: what svc-credentials records for a case (the applicant's
consent, the department's licence use: 免证办) is recorded for a case that exists, and never
while a cases transaction is open.

1. One transaction: the Idempotency-Key is claimed and every local check is made
   (submission.open_submission). Without licence-backed materials the case is written and
   submitted right there (the 秒批 path: one transaction, no extra round trip). With them, the
   case is committed as a **draft** (numbered, uploads attached, timeline `create` with
   `awaiting`) and the key answers 409 `submission_in_progress` until the end.
2. No transaction: svc-credentials records the consent (for a counter case with the clerk's token;
   svc-credentials reads the committed draft to bind it to the clerk's hall) and the use.
3. One transaction: the confirmed materials are attached and the draft is submitted (instant
   approval tried); the key remembers the answer.

If step 2 or 3 fails, the consents given in step 2 are withdrawn and the draft stays a draft with a
`submission_failed` timeline entry saying why and what was undone; the answer (the refusal, with
the draft's `case_id`) is what the key replays. The applicant or clerk fixes what was refused and
submits the draft (`POST /cases/{id}/materials`, then `/submit`). Never a submitted case without
its materials, never a consent left for a submission that did not happen (but see the README for a
counter consent, which only its holder may withdraw today)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.cases.case import submission
from tongban.cases.case.schemas import CaseCreate
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.material.service import SubmissionMaterials
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError, problem_response
from tongban.shared.idempotency import Idempotency

log = logging.getLogger("tongban.cases.submission")

IN_PROGRESS = ("submission_in_progress", "The submission with this Idempotency-Key is still being processed")


async def submit(sessions: async_sessionmaker[AsyncSession], request: Request, body: CaseCreate, p: Principal,
                 idem: Idempotency, credentials: CredentialsClient, default_city: str) -> JSONResponse:
    """Submit a case (steps above); the answer, or the problem, as the key will replay it."""
    path = request.url.path
    async with sessions() as session, session.begin():
        if (replay := await idem.claim(session, p.sub)) is not None:
            return replay
        materials = SubmissionMaterials(session, body.materials, p, request.headers.get("authorization"),
                                        credentials)
        opened = await submission.open_submission(session, body, p, default_city, materials=materials)
        if not materials.licence_backed:
            # Only a read of the applicant's wallet, if the rule names a licence: nothing recorded
            # at svc-credentials, nothing to undo, and taken before the number's row lock.
            facts = {} if opened.draft else await materials.wallet_facts(opened.ctx.rule, {})
            case = await submission.complete(session, opened, p, materials, facts)
            return await idem.remember(session, 201, case)
        await submission.hold(session, opened, p, materials)
        await idem.remember(session, 409, _problem(409, *IN_PROGRESS, "the case is held as a draft until "
                                                   "svc-credentials has confirmed its licence-backed materials",
                                                   path, case_id=str(opened.case.id)))
    try:
        facts = await materials.confirm(opened.case, opened.ctx.rule)
        async with sessions() as session, session.begin():
            case = await submission.finish(session, opened, p, materials, facts)
            return await idem.remember(session, 201, case)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the draft and svc-credentials are put right
        return await _undo(sessions, opened, p, materials, idem, exc, path)


async def _undo(sessions: async_sessionmaker[AsyncSession], opened: submission.Opened, p: Principal,
                materials: SubmissionMaterials, idem: Idempotency, exc: Exception, path: str) -> JSONResponse:
    """Withdraw what svc-credentials recorded, say on the draft why it was not submitted, and
    answer (and remember) the refusal naming the draft."""
    undone = await materials.undo()
    case_id = str(opened.case.id)
    if isinstance(exc, AppError):
        status, code, title, detail, extra = exc.status, exc.code, exc.title, exc.detail, exc.extra
    else:
        log.error("submission of case %s failed after the draft was committed", case_id, exc_info=exc)
        status, code, title, detail, extra = 500, "submission_failed", "The submission did not go through", \
            "an unexpected error; the case is kept as a draft", {}
    body = _problem(status, code, title, detail, path, **extra, case_id=case_id, **undone)
    try:
        async with sessions() as session, session.begin():
            await submission.fail(session, opened.case.id, p, detail, {"code": code, **undone})
            await idem.remember(session, status, body)
    except Exception:
        log.exception("could not record the failed submission on draft %s", case_id)
        raise exc from None
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _problem(status: int, code: str, title: str, detail: str | None, path: str, **extra: Any) -> dict[str, Any]:
    return json.loads(problem_response(status, code, title, detail, path, **extra).body)
