from typing import Annotated

from fastapi import APIRouter, Query

from tongban.interop.delivery import repository
from tongban.interop.delivery.schemas import OutboundMessageRead
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import Caller
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/outbound-messages", tags=["delivery"])


@router.get("", response_model=Page[OutboundMessageRead], responses=responses(*AUTH_ERRORS))
async def list_outbound(session: SessionDep, page: PageDep, _: Caller("delivery.read"),
                        partner: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
                        state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
                        ) -> Page[OutboundMessageRead]:
    """Messages to partners and how their delivery goes (admins), newest first."""
    return await paginate(session, repository.list_query(partner, state), page, OutboundMessageRead.model_validate)
