import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tongban.catalog.item import repository, service
from tongban.catalog.item.errors import BasicCodeTaken, ItemNotFound
from tongban.catalog.item.schemas import ItemCreate, ItemRead
from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/items", tags=["items"])
CatalogEditor = Annotated[Principal, Depends(Requires("catalog:write"))]


@router.post("", status_code=201, response_model=ItemRead,
             responses=responses(*AUTH_ERRORS, BasicCodeTaken, IdempotencyKeyReused))
async def publish_item(body: ItemCreate, session: SessionDep, actor: CatalogEditor, idem: IdempotencyDep):
    """Publish a standard item (admins). Send an `Idempotency-Key` to make retries safe."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    item = await service.publish_item(session, body, actor)
    return await idem.remember(session, 201, ItemRead.model_validate(item))


@router.get("", response_model=Page[ItemRead])
async def list_items(
    session: SessionDep, page: PageDep,
    item_type: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[ItemRead]:
    """Browse the catalogue (public: no login needed)."""
    return await paginate(session, repository.list_query(item_type, q), page, ItemRead.model_validate)


@router.get("/{item_id}", response_model=ItemRead, responses=responses(ItemNotFound))
async def get_item(item_id: uuid.UUID, session: SessionDep) -> ItemRead:
    """One item (public)."""
    item = await repository.get(session, item_id)
    if item is None:
        raise ItemNotFound()
    return ItemRead.model_validate(item)
