from typing import Annotated

from fastapi import APIRouter, Depends

from tongban.cases.catalog_copy import repository
from tongban.cases.catalog_copy.schemas import CatalogItemRead
from tongban.cases.policy import POLICY
from tongban.shared.db import SessionDep
from tongban.shared.policy import Access, Authorize
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/items", tags=["items"])
Public = Annotated[Access, Depends(Authorize(POLICY, "item.read"))]


@router.get("", summary="可申请的事项", response_model=Page[CatalogItemRead])
async def list_items(session: SessionDep, page: PageDep, _: Public) -> Page[CatalogItemRead]:
    """Items this service accepts applications for, as last heard from svc-catalog (public)."""
    return await paginate(session, repository.list_query(), page, CatalogItemRead.model_validate)
