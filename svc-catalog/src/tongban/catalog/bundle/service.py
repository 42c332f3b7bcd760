"""Bundle rules: every item named must be a published item of the catalogue and their forms must
agree on shared fields; the merged application is computed once, kept, and announced."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.bundle import merge, repository
from tongban.catalog.bundle.errors import BundleCodeTaken, BundleItemRefused, BundleNotFound, StaleBundleVersion
from tongban.catalog.bundle.models import Bundle
from tongban.catalog.bundle.schemas import BundleCreate, BundleRead, BundleUpdate
from tongban.catalog.db import audit, outbox
from tongban.catalog.item import repository as item_repository
from tongban.shared.auth import Principal
from tongban.shared.contracts.catalog import BUNDLE_PUBLISHED, BundlePublishedV1
from tongban.shared.events.envelope import make_event


async def _merged(session: AsyncSession, item_codes: list[str]) -> dict[str, Any]:
    """The merged application of the items named, each of which must be published now."""
    found = await item_repository.by_codes(session, item_codes)
    problems = []
    for index, code in enumerate(item_codes):
        item = found.get(code)
        if item is None:
            problems.append({"field": f"item_codes.{index}", "message": f"no item {code} in the catalogue"})
        elif item.status != "published":
            problems.append({"field": f"item_codes.{index}", "message": f"item {code} is {item.status}"})
    if problems:
        raise BundleItemRefused(problems)
    merged, clashes = merge.merge([found[c] for c in item_codes])
    if clashes:
        raise BundleItemRefused(clashes)
    return merged


async def _announce(session: AsyncSession, bundle: Bundle) -> None:
    payload = BundlePublishedV1(bundle_id=bundle.id, code=bundle.code, name=bundle.name, version=bundle.version,
                                item_codes=bundle.item_codes, city_code=bundle.city_code,
                                record=BundleRead.model_validate(bundle).model_dump(mode="json"))
    await outbox.add(session, make_event("catalog", BUNDLE_PUBLISHED, payload, subject=str(bundle.id)))


async def publish_bundle(session: AsyncSession, data: BundleCreate, actor: Principal) -> Bundle:
    """Publish a bundle of published items with its merged form, materials, fees and limits."""
    if await repository.get_by_code(session, data.code) is not None:
        raise BundleCodeTaken(f"bundle {data.code} already exists")
    merged = await _merged(session, data.item_codes)
    bundle = Bundle(id=uuid.uuid4(), code=data.code, name=data.name, description=data.description,
                    city_code=data.city_code, item_codes=data.item_codes, merged=merged, synthetic=data.synthetic,
                    status="published", version=1, created_by=actor.sub)
    try:
        async with session.begin_nested():
            bundle = await repository.add(session, bundle)
    except IntegrityError as exc:
        raise BundleCodeTaken(f"bundle {data.code} already exists") from exc
    await _announce(session, bundle)
    await audit.record(session, actor, "bundle.published", "bundle", str(bundle.id),
                       detail={"code": bundle.code, "items": bundle.item_codes})
    return bundle


async def republish_bundle(session: AsyncSession, bundle_id: uuid.UUID, data: BundleUpdate,
                           actor: Principal) -> Bundle:
    """Replace a bundle (not its code) as its next version, its merged application computed again
    from the items as they are now, and announce `catalog.bundle.published` again."""
    bundle = await repository.get_for_update(session, bundle_id)
    if bundle is None:
        raise BundleNotFound()
    if data.expected_version is not None and data.expected_version != bundle.version:
        raise StaleBundleVersion(f"current version is {bundle.version}, not {data.expected_version}")
    bundle.merged = await _merged(session, data.item_codes)
    bundle.name, bundle.description, bundle.city_code = data.name, data.description, data.city_code
    bundle.item_codes, bundle.synthetic = data.item_codes, data.synthetic
    bundle.status, bundle.version = "published", bundle.version + 1
    bundle = await repository.flush(session, bundle)
    await _announce(session, bundle)
    await audit.record(session, actor, "bundle.republished", "bundle", str(bundle.id), reason=data.reason,
                       detail={"code": bundle.code, "version": bundle.version, "items": bundle.item_codes})
    return bundle


async def get(session: AsyncSession, bundle_id: uuid.UUID) -> Bundle:
    bundle = await repository.get(session, bundle_id)
    if bundle is None:
        raise BundleNotFound()
    return bundle
