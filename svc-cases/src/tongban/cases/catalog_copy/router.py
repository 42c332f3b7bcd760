from fastapi import APIRouter

from tongban.cases.catalog_copy import repository
from tongban.cases.catalog_copy.schemas import CatalogItemRead
from tongban.shared.db import SessionDep
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/items", tags=["items"])


@router.get("", response_model=Page[CatalogItemRead])
async def list_items(session: SessionDep, page: PageDep) -> Page[CatalogItemRead]:
    """Items this service accepts applications for, as last heard from svc-catalog (public)."""
    return await paginate(session, repository.list_query(), page, CatalogItemRead.model_validate)
