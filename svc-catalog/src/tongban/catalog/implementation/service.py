"""Implementation rules: a city's implementation must carry a valid 31-character code whose basic
code is its item's, of a published item; it is announced with its full record."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.catalog.db import audit, outbox
from tongban.catalog.implementation import benchmark, repository
from tongban.catalog.implementation.errors import (
    ImplementationExists, ImplementationNotFound, NotComparable, StaleImplementationVersion,
)
from tongban.catalog.implementation.models import Implementation
from tongban.catalog.implementation.schemas import ImplementationCreate, ImplementationRead, ImplementationUpdate
from tongban.catalog.item import repository as item_repository
from tongban.catalog.item import service as item_service
from tongban.catalog.item.errors import ItemNotFound, WrongItemStatus
from tongban.shared.auth import Principal
from tongban.shared.contracts.catalog import IMPLEMENTATION_PUBLISHED, ImplementationPublishedV1
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event
from tongban.shared.pagination import PageParams


async def publish_implementation(session: AsyncSession, item_id: uuid.UUID, data: ImplementationCreate,
                                 actor: Principal) -> Implementation:
    """Publish a city's implementation of a published item, and refresh the item's search keys."""
    item = await item_repository.get_for_update(session, item_id)
    if item is None:
        raise ItemNotFound()
    if item.status != "published":
        raise WrongItemStatus(f"item {item.basic_code} is {item.status}; only a published item is implemented")
    if data.code[19:] != item.basic_code:
        raise InvalidField("code", f"its basic code {data.code[19:]} is not the item's ({item.basic_code})")
    if await repository.find(session, item.basic_code, data.city_code) is not None:
        raise ImplementationExists(f"{data.city_code} already implements {item.basic_code}")
    if await repository.code_taken(session, data.code):
        raise ImplementationExists(f"implementation code {data.code} is taken")
    values = data.model_dump(mode="json", exclude={"code"})
    impl = Implementation(id=uuid.uuid4(), code=data.code, item_id=item.id, basic_code=item.basic_code,
                          implementing_body_credit_code=data.code[:18], level=data.code[18], version=1,
                          created_by=actor.sub, **values)
    try:
        async with session.begin_nested():
            impl = await repository.add(session, impl)
    except IntegrityError as exc:  # a concurrent request for the same city and item won
        raise ImplementationExists(f"{data.city_code} already implements {item.basic_code}") from exc
    await item_service.reindex(session, item)
    await item_repository.flush(session, item)
    await _announce(session, impl)
    await audit.record(session, actor, "implementation.published", "implementation", str(impl.id),
                       detail={"code": impl.code, "city_code": impl.city_code})
    return impl


async def _announce(session: AsyncSession, impl: Implementation) -> None:
    snapshot = ImplementationRead.model_validate(impl).model_dump(mode="json")
    payload = ImplementationPublishedV1(
        implementation_id=impl.id, code=impl.code, item_id=impl.item_id, basic_code=impl.basic_code,
        city_code=impl.city_code, version=impl.version, promised_limit=impl.promised_limit,
        promised_limit_unit=impl.promised_limit_unit, record=snapshot)
    await outbox.add(session, make_event("catalog", IMPLEMENTATION_PUBLISHED, payload, subject=str(impl.id)))


async def update_implementation(session: AsyncSession, implementation_id: uuid.UUID, data: ImplementationUpdate,
                                actor: Principal) -> Implementation:
    """Replace a city's implementation (not its code or city) as its next version, refresh the
    item's search keys, and announce `catalog.implementation.published` again with the new version."""
    found = await repository.get(session, implementation_id)
    if found is None:
        raise ImplementationNotFound()
    # Item first, then implementation: the order publishing takes, so the two never deadlock.
    item = await item_repository.get_for_update(session, found.item_id)
    impl = await repository.get_for_update(session, implementation_id)
    if item is None or impl is None:
        raise ImplementationNotFound()
    if item.status == "retired":
        raise WrongItemStatus(f"item {item.basic_code} is retired; its implementations are not edited")
    if data.expected_version is not None and data.expected_version != impl.version:
        raise StaleImplementationVersion(f"current version is {impl.version}, not {data.expected_version}")
    previous = impl.version
    for key, value in data.model_dump(mode="json", exclude={"expected_version", "reason"}).items():
        setattr(impl, key, value)
    impl.version = previous + 1
    impl = await repository.flush(session, impl)
    await item_service.reindex(session, item)
    await item_repository.flush(session, item)
    await _announce(session, impl)
    await audit.record(session, actor, "implementation.republished", "implementation", str(impl.id),
                       reason=data.reason, detail={"code": impl.code, "version": impl.version})
    return impl


async def get(session: AsyncSession, implementation_id: uuid.UUID) -> Implementation:
    impl = await repository.get(session, implementation_id)
    if impl is None:
        raise ImplementationNotFound()
    return impl


async def compare(session: AsyncSession, basic_code: str, city_a: str, city_b: str) -> dict[str, Any]:
    """Two cities' implementations of one item on the ten benchmark elements."""
    item = await item_repository.get_by_code(session, basic_code)
    a = await repository.find(session, basic_code, city_a)
    b = await repository.find(session, basic_code, city_b)
    if item is None or a is None or b is None:
        missing = [c for c, i in ((city_a, a), (city_b, b)) if i is None]
        raise NotComparable(f"no implementation of {basic_code} in {', '.join(missing) or 'the catalogue'}")
    elements = benchmark.compare(a, b)
    return {"basic_code": basic_code, "name": item.name, "city_a": city_a, "city_b": city_b,
            "implementation_a": a.id, "implementation_b": b.id, "elements": elements,
            "a_better": [e["element"] for e in elements if e["better"] == "a"],
            "b_better": [e["element"] for e in elements if e["better"] == "b"]}


async def report(session: AsyncSession, city_a: str, city_b: str, page: PageParams,
                 lagging_only: bool = True) -> dict[str, Any]:
    """Catalogue-wide benchmark: for every item both cities run, the elements where each lags;
    totals over the whole catalogue, rows one page at a time."""
    pairs = await repository.pairs(session, city_a, city_b)
    names = {i.basic_code: i.name for i in (await item_repository.by_codes(session, [a.basic_code for a, _ in pairs])).values()}
    per_element = {e: {"a_lags": 0, "b_lags": 0} for e in benchmark.ELEMENTS}
    rows = []
    for a, b in pairs:
        elements = benchmark.compare(a, b)
        a_lags = [e["element"] for e in elements if e["better"] == "b"]
        b_lags = [e["element"] for e in elements if e["better"] == "a"]
        for e in a_lags:
            per_element[e]["a_lags"] += 1
        for e in b_lags:
            per_element[e]["b_lags"] += 1
        if a_lags or b_lags or not lagging_only:
            rows.append({"basic_code": a.basic_code, "name": names.get(a.basic_code, ""),
                         "a_lags_on": a_lags, "b_lags_on": b_lags})
    chunk = rows[page.offset:page.offset + page.limit]
    nxt = page.offset + len(chunk)
    return {"city_a": city_a, "city_b": city_b, "compared": len(pairs),
            "items_where_a_lags": sum(1 for r in rows if r["a_lags_on"]),
            "items_where_b_lags": sum(1 for r in rows if r["b_lags_on"]),
            "lags_per_element": per_element, "items": chunk, "total": len(rows), "limit": page.limit,
            "offset": page.offset, "next_offset": nxt if nxt < len(rows) else None}
