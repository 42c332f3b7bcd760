import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tongban.catalog.item import repository, service
from tongban.catalog.item.errors import BasicCodeTaken, ItemNotFound, WrongItemStatus
from tongban.catalog.item.schemas import (
    ItemCreate, ItemListRow, ItemRead, ItemRetire, ItemStatus, ItemUpdate, ItemView,
)
from tongban.catalog.policy import ERRORS as AUTH_ERRORS
from tongban.catalog.policy import POLICY, Can, Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.policy import Access, admit, allows

router = APIRouter(prefix="/items", tags=["items"])
CatalogEditor = Caller("item.write")
Reader = Can("item.read")


def _sees_drafts(access: Access) -> bool:
    return allows(POLICY, "item.draft.read", access.principal)


class PublishRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=1000)


class ItemVersionRead(BaseModel):
    version: int
    reason: str | None
    published_by: str
    published_at: Any
    record: dict[str, Any]


class Statistics(BaseModel):
    city_code: str | None
    total: int
    flags: dict[str, int]
    fully_online_share: float


@router.post("", status_code=201, response_model=ItemRead,
             responses=responses(*AUTH_ERRORS, BasicCodeTaken, IdempotencyKeyReused))
async def publish_item(body: ItemCreate, session: SessionDep, actor: CatalogEditor, idem: IdempotencyDep):
    """Publish a standard item (admins), or keep it as a draft with `"publish": false`.
    Send an `Idempotency-Key` to make retries safe."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    item = await service.publish_item(session, body, actor)
    return await idem.remember(session, 201, ItemRead.model_validate(item))


@router.get("", summary="事项列表", response_model=Page[ItemRead] | Page[ItemListRow],
            responses=responses(*AUTH_ERRORS))
async def list_items(
    session: SessionDep, page: PageDep, who: Reader,
    item_type: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: ItemStatus = "published",
    view: Annotated[ItemView, Query(description="`full`: every element of each item (ItemRead); `summary`: "
                                                "a list row (ItemListRow), for a mini-program's list")] = "full",
) -> Page[ItemRead] | Page[ItemListRow]:
    """Browse the catalogue (public: no login needed). Drafts are listed for editors only.
    `?view=summary` gives each item as a short list row with links to the rest."""
    if status == "draft":
        admit(POLICY, "item.draft.read", who.principal)
    convert = ItemListRow.of if view == "summary" else ItemRead.model_validate
    return await paginate(session, repository.list_query(item_type, q, status), page, convert)


@router.get("/statistics", response_model=Statistics, dependencies=[Public("item.read")])
async def statistics(session: SessionDep,
                     city_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> Statistics:
    """Counts per flag and the share fully online (public): over the standard items, or with
    `city_code` over that city's implementations."""
    return Statistics(**await service.statistics(session, city_code))


@router.get("/{item_id}", summary="事项详情", response_model=ItemRead, responses=responses(ItemNotFound))
async def get_item(item_id: uuid.UUID, session: SessionDep, who: Reader) -> ItemRead:
    """One item (public; a draft only for editors)."""
    item = await repository.get(session, item_id)
    if item is None or (item.status == "draft" and not _sees_drafts(who)):
        raise ItemNotFound()
    return ItemRead.model_validate(item)


@router.get("/{item_id}/versions", response_model=Page[ItemVersionRead], responses=responses(ItemNotFound),
            dependencies=[Public("item.read")])
async def list_versions(item_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[ItemVersionRead]:
    """Every published version of an item as it was announced, newest first (public)."""
    return await paginate(session, repository.versions_query(item_id), page,
                          lambda v: ItemVersionRead.model_validate(v, from_attributes=True))


@router.put("/{item_id}", response_model=ItemRead,
            responses=responses(*AUTH_ERRORS, ItemNotFound, WrongItemStatus))
async def update_item(item_id: uuid.UUID, body: ItemUpdate, session: SessionDep, actor: CatalogEditor) -> ItemRead:
    """Replace an item's elements; a published item becomes its next version and is announced."""
    return ItemRead.model_validate(await service.update_item(session, item_id, body, actor))


@router.post("/{item_id}/publish", response_model=ItemRead,
             responses=responses(*AUTH_ERRORS, ItemNotFound, WrongItemStatus))
async def publish_existing(item_id: uuid.UUID, body: PublishRequest, session: SessionDep,
                           actor: CatalogEditor) -> ItemRead:
    """Publish a draft, or a retired item again, as the next version."""
    return ItemRead.model_validate(await service.publish_existing(session, item_id, actor, body.reason))


@router.post("/{item_id}/retire", response_model=ItemRead,
             responses=responses(*AUTH_ERRORS, ItemNotFound, WrongItemStatus))
async def retire_item(item_id: uuid.UUID, body: ItemRetire, session: SessionDep, actor: CatalogEditor) -> ItemRead:
    """Retire a published item (announced as `catalog.item.retired`)."""
    return ItemRead.model_validate(await service.retire_item(session, item_id, body.reason, actor))
