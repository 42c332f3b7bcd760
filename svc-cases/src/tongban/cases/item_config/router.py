from typing import Annotated

from fastapi import APIRouter, Depends, Path

from tongban.cases.item_config import repository, service
from tongban.cases.item_config.schemas import ItemConfigRead, ItemConfigUpdate
from tongban.cases.policy import POLICY
from tongban.shared.auth import AUTH_ERRORS
from tongban.shared.policy import Access, Authorize
from tongban.shared.db import SessionDep
from tongban.shared.errors import NotFound, responses
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/item-configs", tags=["item configuration"])
CasesAdmin = Annotated[Access, Depends(Authorize(POLICY, "item_config.manage"))]
CaseReader = Annotated[Access, Depends(Authorize(POLICY, "item_config.list"))]
Public = Annotated[Access, Depends(Authorize(POLICY, "item_config.form"))]
BasicCode = Annotated[str, Path(pattern=r"^\d{12}$")]


@router.get("", response_model=Page[ItemConfigRead], responses=responses(*AUTH_ERRORS))
async def list_configs(session: SessionDep, page: PageDep, _: CaseReader) -> Page[ItemConfigRead]:
    """Every item's handling configuration."""
    return await paginate(session, repository.list_query(), page, ItemConfigRead.model_validate)


@router.get("/{basic_code}", summary="事项的申请表单",
            response_model=ItemConfigRead, responses=responses(*AUTH_ERRORS, NotFound))
async def get_config(basic_code: BasicCode, session: SessionDep, _: Public) -> ItemConfigRead:
    """One item's form and handling configuration (public: applicants need the form)."""
    row = await repository.get(session, basic_code)
    if row is None:
        raise NotFound(f"no configuration for item {basic_code}")
    return ItemConfigRead.model_validate(row)


@router.put("/{basic_code}", response_model=ItemConfigRead, responses=responses(*AUTH_ERRORS))
async def put_config(basic_code: BasicCode, body: ItemConfigUpdate, session: SessionDep,
                     actor: CasesAdmin) -> ItemConfigRead:
    """Set an item's form fields, department, licence type, limit (admins; a new version each time)."""
    return ItemConfigRead.model_validate(await service.put_config(session, basic_code, body, actor.principal))
