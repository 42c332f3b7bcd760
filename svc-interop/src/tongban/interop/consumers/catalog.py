"""Handlers of svc-catalog's events."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.discovery import service
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ITEM_RETIRED
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage, Subscription


async def on_item_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == ITEM_PUBLISHED:
        await service.apply_item_published(session, event.data)
    elif event.type == ITEM_RETIRED:
        await service.apply_item_retired(session, event.data)
    elif not event.type.startswith("catalog.item."):
        raise PoisonMessage(f"unexpected event type {event.type}")


SUBSCRIPTIONS = [Subscription(source="catalog", subject="catalog.item.>", durable="interop-catalog-item",
                              handler=on_item_event)]
