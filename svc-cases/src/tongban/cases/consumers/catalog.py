"""Handlers of svc-catalog's events."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.bundle import service as bundles
from tongban.cases.catalog_copy import service
from tongban.shared.contracts.catalog import BUNDLE_PUBLISHED, IMPLEMENTATION_PUBLISHED, ITEM_PUBLISHED, \
    ITEM_RETIRED, BundlePublishedV1, ImplementationPublishedV1, ItemPublishedV1, ItemRetiredV1
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage, Subscription


async def on_item_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == ITEM_PUBLISHED:
        await service.apply_item_published(session, ItemPublishedV1.model_validate(event.data))
    elif event.type == ITEM_RETIRED:
        await service.apply_item_retired(session, ItemRetiredV1.model_validate(event.data))
    elif not event.type.startswith("catalog.item."):
        raise PoisonMessage(f"unexpected event type {event.type}")


async def on_bundle_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == BUNDLE_PUBLISHED:
        await bundles.apply_bundle_published(session, BundlePublishedV1.model_validate(event.data))
    elif not event.type.startswith("catalog.bundle."):
        raise PoisonMessage(f"unexpected event type {event.type}")


async def on_implementation_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == IMPLEMENTATION_PUBLISHED:
        await service.apply_implementation_published(session, ImplementationPublishedV1.model_validate(event.data))
    elif not event.type.startswith("catalog.implementation."):
        raise PoisonMessage(f"unexpected event type {event.type}")


SUBSCRIPTIONS = [Subscription(source="catalog", subject="catalog.item.>", durable="cases-catalog-item",
                              handler=on_item_event),
                 Subscription(source="catalog", subject="catalog.bundle.>", durable="cases-catalog-bundle",
                              handler=on_bundle_event),
                 Subscription(source="catalog", subject="catalog.implementation.>",
                              durable="cases-catalog-implementation", handler=on_implementation_event)]
