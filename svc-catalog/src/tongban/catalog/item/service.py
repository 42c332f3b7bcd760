"""Item rules: publishing an item writes it, its audit record and its event in one transaction."""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.db import audit, outbox
from tongban.catalog.item import repository
from tongban.catalog.item.errors import BasicCodeTaken
from tongban.catalog.item.models import Item
from tongban.catalog.item.schemas import ItemCreate
from tongban.shared.auth import Principal
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.events.envelope import make_event


async def publish_item(session: AsyncSession, data: ItemCreate, actor: Principal) -> Item:
    """Create a standard item and announce it as `catalog.item.published`."""
    if await repository.get_by_code(session, data.basic_code) is not None:
        raise BasicCodeTaken(f"basic code {data.basic_code} is already in the catalogue")
    try:
        item = await repository.add(session, Item(**data.model_dump(), created_by=actor.sub, version=1))
    except IntegrityError as exc:  # a concurrent publish of the same code won the race
        raise BasicCodeTaken(f"basic code {data.basic_code} is already in the catalogue") from exc
    payload = ItemPublishedV1(
        item_id=item.id, basic_code=item.basic_code, name=item.name, item_type=item.item_type,
        version=item.version, case_type=item.case_type, promised_limit=item.promised_limit,
        promised_limit_unit=item.promised_limit_unit)
    await outbox.add(session, make_event("catalog", ITEM_PUBLISHED, payload, subject=str(item.id)))
    await audit.record(session, actor, "item.published", "item", str(item.id), detail={"basic_code": item.basic_code})
    return item
