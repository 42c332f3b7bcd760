import dataclasses
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from tongban.interop.ledger import repository, service
from tongban.interop.ledger.errors import MessageNotLogged
from tongban.interop.ledger.schemas import ChainCheckRead, MessageLogRead
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Caller
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/ledger", tags=["ledger"])


Auditor = Caller("ledger.read")


@router.get("/verify", response_model=ChainCheckRead, responses=responses(*AUTH_ERRORS))
async def verify_chain(session: SessionDep, _: Auditor) -> ChainCheckRead:
    """Recompute the hash chain end to end; `ok` false names the first broken entry."""
    return ChainCheckRead(**dataclasses.asdict(await service.verify(session)))


@router.get("/entries", response_model=Page[MessageLogRead], responses=responses(*AUTH_ERRORS))
async def list_entries(session: SessionDep, page: PageDep, _: Auditor,
                       partner: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
                       outcome: Annotated[str | None, Query(max_length=20)] = None) -> Page[MessageLogRead]:
    """The log, newest first (bodies are in the evidence export)."""
    return await paginate(session, repository.list_query(partner, outcome), page, MessageLogRead.model_validate)


@router.get("/messages/{message_id}/evidence", responses=responses(*AUTH_ERRORS, MessageNotLogged))
async def export_evidence(message_id: uuid.UUID, session: SessionDep, _: Auditor) -> JSONResponse:
    """One message as a single evidence file: its signed request(s) and response(s), their place in
    the chain and the chain check (auditors, admins)."""
    data = await service.evidence(session, str(message_id))
    if data is None:
        raise MessageNotLogged(f"{message_id} is not in the log")
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="evidence-{message_id}.json"'})
