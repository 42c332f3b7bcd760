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
counter consent, which only its holder may withdraw today).

`POST /cases/{id}/materials` (`add_materials`) takes the same path for a case that exists already:
one transaction checks the case and the uploads (materials without a licence are added right
there), svc-credentials is asked with none open, and a last one checks again and adds them all.
A failure withdraws the consents given and leaves the case as it was, with an
`add_materials_failed` entry on its timeline; the key replays the answer. `POST /bundle-cases`
(`submit_bundle`) holds the parent and every child as drafts the same way, and submits them all or
none."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.cases import flows
from tongban.cases.bundle import service as bundles
from tongban.cases.bundle.schemas import BundleCaseCreate
from tongban.cases.case import service as cases
from tongban.cases.case import submission
from tongban.cases.case.schemas import CaseCreate
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.material.schemas import MaterialIn
from tongban.cases.material.service import SubmissionMaterials
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError, problem_response
from tongban.shared.idempotency import Idempotency

log = logging.getLogger("tongban.cases.submission")

IN_PROGRESS = ("submission_in_progress", "The submission with this Idempotency-Key is still being processed")
# Says on the cases why what svc-credentials recorded for them was undone: (session, reason=, detail=).
Failure = Callable[..., Awaitable[None]]


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
            case = await submission.complete(session, opened, p, materials, facts, batched=True)
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
        return await _undo(sessions, [materials], idem, exc, path,
                           partial(submission.fail, case_id=opened.case.id, p=p), "the case is kept as a draft",
                           case_id=str(opened.case.id))


async def add_materials(sessions: async_sessionmaker[AsyncSession], request: Request, case_id: uuid.UUID,
                        items: Sequence[MaterialIn], reason: str | None, p: Principal, idem: Idempotency,
                        credentials: CredentialsClient) -> JSONResponse:
    """Add materials to an open case (steps in the module's docstring); the answer, or the
    problem, as the key will replay it."""
    path = request.url.path
    async with sessions() as session, session.begin():
        if (replay := await idem.claim(session, p.sub)) is not None:
            return replay
        materials = SubmissionMaterials(session, items, p, request.headers.get("authorization"), credentials)
        case = await cases.open_for_materials(session, case_id, p)
        await materials.check(case)
        if not materials.licence_backed:
            case = await flows.add_materials(session, case, materials, reason, p)
            return await idem.remember(session, 200, (await cases.reader(session, p))(case))
        await idem.remember(session, 409, _problem(409, *IN_PROGRESS, "the materials are added once "
                                                   "svc-credentials has confirmed the licence-backed ones",
                                                   path, case_id=str(case_id)))
    try:
        await materials.confirm(case)
        async with sessions() as session, session.begin():
            case = await cases.open_for_materials(session, case_id, p)  # 409 if it closed meanwhile
            await materials.recheck(session, case)
            case = await flows.add_materials(session, case, materials, reason, p)
            return await idem.remember(session, 200, (await cases.reader(session, p))(case))
    except Exception as exc:  # noqa: BLE001 - whatever failed, svc-credentials is put right and the case says so
        return await _undo(sessions, [materials], idem, exc, path,
                           partial(cases.materials_not_added, case_id=case_id, p=p), "no material was added",
                           case_id=str(case_id))


async def submit_bundle(sessions: async_sessionmaker[AsyncSession], request: Request, body: BundleCaseCreate,
                        p: Principal, idem: Idempotency, credentials: CredentialsClient,
                        default_city: str) -> JSONResponse:
    """`POST /bundle-cases` the same way: the parent and its children held as drafts while
    svc-credentials records every child's licence-backed materials, then all submitted in one
    transaction; a failure withdraws every consent given and leaves them all drafts, each child's
    timeline saying why."""
    path = request.url.path
    async with sessions() as session, session.begin():
        if (replay := await idem.claim(session, p.sub)) is not None:
            return replay
        started = await bundles.start(session, body, p, default_city, request.headers.get("authorization"),
                                      credentials)
        if started.read is not None:
            return await idem.remember(session, 201, started.read)
        await idem.remember(session, 409, _problem(409, *IN_PROGRESS, "the bundle's cases are held as drafts until "
                                                   "svc-credentials has confirmed their licence-backed materials",
                                                   path, bundle_case_id=str(started.parent.id)))
    try:
        facts = [await plan.confirm(opened.case, opened.ctx.rule) for opened, plan in started.held]
        async with sessions() as session, session.begin():
            return await idem.remember(session, 201, await bundles.finish(session, started, p, facts))
    except Exception as exc:  # noqa: BLE001 - whatever failed, the drafts and svc-credentials are put right
        return await _undo(sessions, [plan for _, plan in started.held], idem, exc, path,
                           partial(bundles.fail, started=started, p=p), "the bundle and its cases are kept as drafts",
                           bundle_case_id=str(started.parent.id),
                           case_ids=[str(opened.case.id) for opened, _ in started.held])


async def _undo(sessions: async_sessionmaker[AsyncSession], plans: Sequence[SubmissionMaterials],
                idem: Idempotency, exc: Exception, path: str, failed: Failure, kept: str,
                **names: Any) -> JSONResponse:
    """Withdraw what svc-credentials recorded for `plans`, say on the cases why (`failed`), and
    answer (and remember) the refusal naming them (`names`)."""
    undone: dict[str, list[str]] = {"consents_withdrawn": [], "consents_left": []}
    for plan in plans:
        for k, v in (await plan.undo()).items():
            undone[k] += v
    if isinstance(exc, AppError):
        status, code, title, detail, extra = exc.status, exc.code, exc.title, exc.detail, exc.extra
    else:
        log.error("%s: svc-credentials' part undone after an unexpected error", names, exc_info=exc)
        status, code, title, detail, extra = 500, "submission_failed", "The submission did not go through", \
            f"an unexpected error; {kept}", {}
    body = _problem(status, code, title, detail, path, **extra, **names, **undone)
    try:
        async with sessions() as session, session.begin():
            await failed(session, reason=detail or title, detail={"code": code, **undone})
            await idem.remember(session, status, body)
    except Exception:
        log.exception("could not record the failure on %s", names)
        raise exc from None
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _problem(status: int, code: str, title: str, detail: str | None, path: str, **extra: Any) -> dict[str, Any]:
    return json.loads(problem_response(status, code, title, detail, path, **extra).body)
